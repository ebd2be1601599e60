-- Deletes a control value; with check '1', only while it holds exactly `expected` (compare-and-delete).
-- ARGV: key, check ('1' | '0'), expected. Returns 1 when a value was deleted, else 0.
local key = ARGV[1]
local held = redis.call('GET', valueKey(key))
if not held or (ARGV[2] == '1' and held ~= ARGV[3]) then return 0 end
redis.call('DEL', valueKey(key))
local index = indexKey(key)
if index then redis.call('ZREM', index, key) end
return 1
