-- ARGV: id. Returns 1 when it existed.
local r = load(ARGV[1])
if not r then return 0 end
unindex(r)
redis.call('HDEL', DATA, r.id)
return 1
