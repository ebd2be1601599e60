-- ARGV: mode, value.
--   id:      delete one record                          -> 1 | 0
--   group:   delete every record of the group           -> count
--   ungroup: clear the group label of its records       -> count
local mode, value = ARGV[1], ARGV[2]
if mode == 'id' then return remove(value) end
local key = T .. 'group:' .. value
local ids = redis.call('ZRANGE', key, 0, -1)
if mode == 'group' then
  for _, id in ipairs(ids) do remove(id) end
  return #ids
end
for _, id in ipairs(ids) do
  local json = redis.call('HGET', REC, id)
  if json then
    local r = cjson.decode(json)
    r.group = cjson.null
    redis.call('HSET', REC, id, cjson.encode(r))
  end
end
redis.call('DEL', key)
redis.call('SREM', GROUPS, value)
return #ids
