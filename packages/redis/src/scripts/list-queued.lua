-- A page of stored messages: prioritized and ready first, then delayed, then leased.
-- KEYS: ready (list), msgs (hash), delayed (zset), leases (zset), pready (zset)
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
-- kind, key, is a list, scores are times
for _, part in ipairs({ { 'r', KEYS[5], false }, { 'r', KEYS[1], true }, { 'd', KEYS[3], false }, { 'l', KEYS[4], false } }) do
  if want <= 0 then break end
  local kind, key, isList = part[1], part[2], part[3]
  local size
  if isList then size = redis.call('LLEN', key) else size = redis.call('ZCARD', key) end
  if skip < size then
    if isList then
      for _, id in ipairs(redis.call('LRANGE', key, skip, skip + want - 1)) do emit(kind, id, '') end
    else
      local items = redis.call('ZRANGE', key, skip, skip + want - 1, 'WITHSCORES')
      for i = 1, #items, 2 do
        local score = items[i + 1]
        if kind == 'r' then score = '' end
        emit(kind, items[i], score)
      end
    end
    skip = 0
  else
    skip = skip - size
  end
end
return out
