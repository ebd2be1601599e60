-- Sets a control value unless the key holds a live one (an expired key is gone for Redis already).
-- ARGV: key, value, ttl ms ('' = none). Returns nil when this call set it, else the value that holds it.
local key, value, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local held = redis.call('GET', valueKey(key))
if held then return held end
write(key, value, ttl)
return false
