-- Save records with Django Q's rule: an existing success is final; an existing failure is
-- overwritten and its attemptCount grows by one; a new record starts at 1.
-- ARGV: ttlMs (0 = keep), then per record: id, success (1|0), group ('' = none, else '=' .. group),
--       func, name, stoppedAt ms, JSON of the record without attemptCount and without the leading '{'.
-- Returns each record's attemptCount after the save.
local ttl = tonumber(ARGV[1])
local now = nowMs()
local seq = tonumber(redis.call('INCRBY', T .. 'seq', (#ARGV - 1) / 7)) - (#ARGV - 1) / 7
local counts = {}
for i = 2, #ARGV, 7 do
  local id = ARGV[i]
  local old = redis.call('HGET', REC, id)
  local attempt = 1
  local final = false
  if old then
    local o = cjson.decode(old)
    if o.success then
      final = true
      attempt = o.attemptCount
    else
      attempt = o.attemptCount + 1
      unindex(id, o)
    end
  end
  if not final then
    seq = seq + 1
    local group = nil
    if ARGV[i + 2] ~= '' then group = string.sub(ARGV[i + 2], 2) end
    redis.call('HSET', REC, id, '{"attemptCount":' .. attempt .. ',' .. ARGV[i + 6])
    index(id, ARGV[i + 1] == '1', group, ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5]) * 1000 + seq % 1000)
    if ttl > 0 then
      redis.call('ZADD', EXPIRY, now + ttl, id)
    elseif old then
      redis.call('ZREM', EXPIRY, id)
    end
  end
  counts[#counts + 1] = attempt
end
return counts
