-- Deletes every key of one result namespace. ARGV: the KEYS pattern of the namespace (its escaped tag and '*').
-- KEYS runs inside the script so that, on a Redis Cluster, it reads the node that owns the namespace's slot;
-- every key it returns shares that slot. Deleted in slices (unpack() of thousands of keys overflows Lua's stack).
local keys = redis.call('KEYS', ARGV[1])
for first = 1, #keys, 1000 do
  redis.call('DEL', unpack(keys, first, math.min(first + 999, #keys)))
end
return #keys
