-- Store packages and make them ready (or delayed), atomically.
-- KEYS: ready (list), msgs (hash id -> payload), delayed (zset id -> due ms),
--       pready (zset of prioritized ready ids), prio (hash id -> priority, for delayed prioritized ids), seq,
--       limitRing, limitConf, limitOf, limitSeq
-- ARGV: limitsPrefix, then per message: id, payload, delayMs, priority, limitKey ('' = none), limitConf
-- HSETNX makes a resent enqueue (after a reconnect) harmless.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limits = ARGV[1]
local ready = {}
local prioritized = 0
local limited = 0
for i = 2, #ARGV, 6 do
  local id = ARGV[i]
  if redis.call('HSETNX', KEYS[2], id, ARGV[i + 1]) == 1 then
    local delay = tonumber(ARGV[i + 2])
    local priority = tonumber(ARGV[i + 3])
    local limitKey = ARGV[i + 4]
    if limitKey ~= '' then
      -- Keyed limits: the key's latest limits are in force; the message waits in its key's own list.
      redis.call('HSET', KEYS[8], limitKey, ARGV[i + 5])
      redis.call('HSET', KEYS[9], id, limitKey)
      if delay > 0 then
        redis.call('ZADD', KEYS[3], now + delay, id)
      else
        redis.call('RPUSH', limits .. 'ready:' .. limitKey, id)
        redis.call('ZADD', KEYS[7], 'NX', redis.call('INCR', KEYS[10]), limitKey)
        limited = limited + 1
      end
    elseif delay > 0 then
      redis.call('ZADD', KEYS[3], now + delay, id)
      if priority ~= 0 then redis.call('HSET', KEYS[5], id, priority) end
    elseif priority ~= 0 then
      -- Higher priority first, FIFO within one priority.
      redis.call('ZADD', KEYS[4], -priority * 1e12 + redis.call('INCR', KEYS[6]), id)
      prioritized = prioritized + 1
    else
      ready[#ready + 1] = id
    end
  end
end
-- An empty id wakes consumers blocked on the ready list; claim skips it.
if (prioritized > 0 or limited > 0) and #ready == 0 then ready[1] = '' end
if #ready > 0 then
  redis.call('RPUSH', KEYS[1], unpack(ready))
end
return #ready
