-- Store packages and make them ready (or delayed), atomically.
-- KEYS: ready (list), msgs (hash id -> payload), delayed (zset id -> due ms)
-- ARGV: id1, payload1, delayMs1, id2, payload2, delayMs2, ...
-- HSETNX makes a resent enqueue (after a reconnect) harmless.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ready = {}
for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call('HSETNX', KEYS[2], id, ARGV[i + 1]) == 1 then
    local delay = tonumber(ARGV[i + 2])
    if delay > 0 then
      redis.call('ZADD', KEYS[3], now + delay, id)
    else
      ready[#ready + 1] = id
    end
  end
end
if #ready > 0 then
  redis.call('RPUSH', KEYS[1], unpack(ready))
end
return #ready
