-- Push a lease further, only for the delivery the receipt names.
-- KEYS: leases (zset), deliveries (hash)
-- ARGV: id, delivery number, ms
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- XX: only while leased (not acknowledged); GT: never shorten.
return redis.call('ZADD', KEYS[1], 'XX', 'GT', now + tonumber(ARGV[3]), ARGV[1])
