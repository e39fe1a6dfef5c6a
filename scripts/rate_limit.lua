-- rate_limit.lua: caps how fast one peer may publish on the topics it
-- governs: RATE messages a second sustained, BURST at once. Each peer has its
-- own token bucket (keyed by its alias), so one peer's flood does not touch
-- another's allowance.

policy = {
  topics = { "game.**" },
}

local RATE = 10
local BURST = 20

function on_publish(topic, body, alias, identity, role)
  -- Other servers relay what their own clients published; those were
  -- limited where they entered the cluster.
  if role ~= "client" then
    return "allow"
  end
  if broker.rate_limit(alias, RATE, BURST) then
    return "allow"
  end
  return "drop", "rate limit exceeded"
end
