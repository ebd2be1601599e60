-- Forget messages for good (acknowledge, delete, fail). Unknown ids are ignored.
-- KEYS: msgs (hash), leases (zset), deliveries (hash), limitOf, limitRunning, ready (list), limitRing
-- ARGV: ids. An id still in a ready list is skipped by claim (no payload).
-- A leased message of a limited key frees its slot (a lapsed lease already freed it when it went back).
local released = 0
-- Only a queue that has limited messages pays for the per-id lookup.
if redis.call('HLEN', KEYS[4]) > 0 then
  for _, id in ipairs(ARGV) do
    local key = redis.call('HGET', KEYS[4], id)
    if key then
      if redis.call('ZSCORE', KEYS[2], id) then
        if redis.call('HINCRBY', KEYS[5], key, -1) < 0 then redis.call('HSET', KEYS[5], key, 0) end
        released = released + 1
      end
      redis.call('HDEL', KEYS[4], id)
    end
  end
end
redis.call('HDEL', KEYS[1], unpack(ARGV))
redis.call('ZREM', KEYS[2], unpack(ARGV))
redis.call('HDEL', KEYS[3], unpack(ARGV))
-- Wake a consumer waiting on the limit that just loosened.
if released > 0 and redis.call('ZCARD', KEYS[7]) > 0 then redis.call('RPUSH', KEYS[6], '') end
return #ARGV
