-- Forget messages for good (acknowledge, delete, fail). Unknown ids are ignored.
-- KEYS: msgs (hash), leases (zset), deliveries (hash)
-- ARGV: ids. An id still in the ready list is skipped by claim (no payload).
redis.call('HDEL', KEYS[1], unpack(ARGV))
redis.call('ZREM', KEYS[2], unpack(ARGV))
redis.call('HDEL', KEYS[3], unpack(ARGV))
return #ARGV
