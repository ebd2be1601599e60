-- The live values of one namespace, from its index (never a keyspace scan); expired index entries are pruned.
-- ARGV: namespace (one word and ':', such as 'ctl:'), limit. Returns key, value, key, value, …
local index = indexKey(ARGV[1])
local limit = tonumber(ARGV[2])
if not index then return {} end
redis.call('ZREMRANGEBYSCORE', index, '-inf', nowMs())
local out, gone = {}, {}
local count, offset, batch = 0, 0, 500
while count < limit do
  local keys = redis.call('ZRANGE', index, offset, offset + batch - 1)
  if #keys == 0 then break end
  local names = {}
  for i, key in ipairs(keys) do names[i] = valueKey(key) end
  local values = redis.call('MGET', unpack(names))
  for i, key in ipairs(keys) do
    local value = values[i]
    if not value then
      -- Gone without deleteValue (expired within the millisecond, or evicted): drop the entry too.
      gone[#gone + 1] = key
    elseif count < limit then
      out[#out + 1] = key
      out[#out + 1] = value
      count = count + 1
    end
  end
  offset = offset + batch
end
if #gone > 0 then redis.call('ZREM', index, unpack(gone)) end
return out
