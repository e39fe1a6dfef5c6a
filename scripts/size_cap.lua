-- size_cap.lua: drops a publish whose body is over MAX_BYTES.
--
-- The relay already refuses any data-channel message over max_message_size
-- (64 KiB by default); this rule sets a tighter cap on the topics it governs.

policy = {
  topics = { "chat.**" },
}

local MAX_BYTES = 1024

function on_publish(topic, body)
  if #body > MAX_BYTES then
    return "drop", "body over " .. MAX_BYTES .. " bytes"
  end
  return "allow"
end
