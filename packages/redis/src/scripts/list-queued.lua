-- A page of stored messages: ready first, then delayed, then leased.
-- KEYS: ready (list), msgs (hash), delayed (zset), leases (zset)
-- ARGV: offset, limit. Returns flat { kind, id, score, payload, ... } with kind r|d|l.
local skip = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local out = {}
local function emit(kind, id, score)
  local payload = redis.call('HGET', KEYS[2], id)
  if payload then
    out[#out + 1] = kind
    out[#out + 1] = id
    out[#out + 1] = score
    out[#out + 1] = payload
    want = want - 1
  end
end
local n = redis.call('LLEN', KEYS[1])
if skip < n then
  for _, id in ipairs(redis.call('LRANGE', KEYS[1], skip, skip + want - 1)) do emit('r', id, '') end
  skip = 0
else
  skip = skip - n
end
for _, pair in ipairs({ { 'd', KEYS[3] }, { 'l', KEYS[4] } }) do
  if want <= 0 then break end
  local size = redis.call('ZCARD', pair[2])
  if skip < size then
    local items = redis.call('ZRANGE', pair[2], skip, skip + want - 1, 'WITHSCORES')
    for i = 1, #items, 2 do emit(pair[1], items[i], items[i + 1]) end
    skip = 0
  else
    skip = skip - size
  end
end
return out
