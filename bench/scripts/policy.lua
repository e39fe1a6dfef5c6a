-- The rule the bench's policy scenario runs on its topic: a realistic
-- per-publisher flood guard (a token bucket per sender alias, far above the
-- bench's rate, so nothing is dropped) plus a size cap. Its cost per message
-- is what the policy row of RESULTS.md shows against plain dense.
policy = { topics = {"load.policy"}, failure = "open", timeout_ms = 5 }

function on_publish(topic, body, alias, identity, role, reliable)
  if #body > 4096 then
    return false, "body over 4 KiB"
  end
  if not broker.rate_limit(alias, 1000, 2000) then
    return false, "more than 1000 messages/s"
  end
  return true
end
