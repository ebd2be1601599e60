-- ARGV: id, patch JSON (the fields to set; null sets null). Returns the updated
-- JSON, false when the id does not exist, or 'DUP_NAME' when the new name is taken.
local r = load(ARGV[1])
if not r then return false end
local patch = cjson.decode(ARGV[2])
if patch.name ~= nil and patch.name ~= cjson.null then
  local owner = redis.call('HGET', NAMES, patch.name)
  if owner and owner ~= r.id then return 'DUP_NAME' end
end
unindex(r)
for key, value in pairs(patch) do
  if key ~= 'id' and key ~= 'createdAt' then r[key] = value end
end
return store(r)
