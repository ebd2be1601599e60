-- { waiting, locked }: locked = live leases; waiting = every other stored message (ready, delayed, lapsed).
-- KEYS: msgs (hash), leases (zset)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local locked = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
return { redis.call('HLEN', KEYS[1]) - locked, locked }
