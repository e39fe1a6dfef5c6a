-- announce_acl.lua: only staff may publish announcements, and only staff may
-- listen to the internal ones. "Staff" is an identity (as the auth plugin
-- attached it to the peer) that starts with STAFF_PREFIX.

policy = {
  topics = { "announce.**" },
}

local STAFF_PREFIX = "staff:"
local INTERNAL = "announce.internal."

local function is_staff(identity)
  return identity:sub(1, #STAFF_PREFIX) == STAFF_PREFIX
end

function on_publish(topic, body, alias, identity, role)
  if role ~= "client" or is_staff(identity) then
    return "allow"
  end
  return "drop", "only staff may publish on " .. topic
end

function on_subscribe(topic, alias, identity, role)
  if topic:sub(1, #INTERNAL) ~= INTERNAL or role ~= "client" or is_staff(identity) then
    return "allow"
  end
  return "deny", "only staff may subscribe to " .. topic
end
