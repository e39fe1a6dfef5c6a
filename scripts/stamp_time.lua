-- stamp_time.lua: stamps the server's clock into every JSON object published
-- on the topics it governs, as "server_time" (milliseconds since the Unix
-- epoch). A client cannot forge it: a server_time it sent is overwritten.
-- Bodies that are not JSON objects are dropped.

policy = {
  topics = { "feed.**" },
}

function on_publish(topic, body)
  if not body:find("^%s*{") then
    return "drop", "body must be a JSON object"
  end
  local doc, err = broker.json_decode(body)
  if doc == nil then
    return "drop", err
  end
  doc.server_time = broker.now()
  return "replace", broker.json_encode(doc)
end
