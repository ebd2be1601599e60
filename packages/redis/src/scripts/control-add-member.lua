-- Adds a member to a counted set and (re)sets the whole set's expiry, atomically.
-- ARGV: key, member, ttl ms ('' = none). Returns the set's size after the add.
local set = setKey(ARGV[1])
local ttl = tonumber(ARGV[3])
redis.call('SADD', set, ARGV[2])
if ttl then
  redis.call('PEXPIRE', set, ttl)
else
  redis.call('PERSIST', set)
end
return redis.call('SCARD', set)
