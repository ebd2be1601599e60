-- ARGV: id or name. Returns the record JSON (by id first, then by name) or false.
local json = redis.call('HGET', DATA, ARGV[1])
if json then return json end
local id = redis.call('HGET', NAMES, ARGV[1])
if id then return redis.call('HGET', DATA, id) end
return false
