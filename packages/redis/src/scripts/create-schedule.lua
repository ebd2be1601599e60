-- ARGV: record JSON. Returns the stored JSON, or 'DUP_ID' / 'DUP_NAME'.
local r = cjson.decode(ARGV[1])
if redis.call('HEXISTS', DATA, r.id) == 1 then return 'DUP_ID' end
if hasName(r) and redis.call('HEXISTS', NAMES, r.name) == 1 then return 'DUP_NAME' end
return store(r)
