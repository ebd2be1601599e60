-- Keep the newest ARGV[1] successes, overall or per ARGV[2] (group | func | name); failures stay.
-- Returns how many records were deleted.
local keep, per = tonumber(ARGV[1]), ARGV[2]
local deleted = 0
local function pruneIndex(key)
  local kept = 0
  for _, id in ipairs(redis.call('ZRANGE', key, 0, -1, 'REV')) do
    if redis.call('ZSCORE', OK, id) then
      kept = kept + 1
      if kept > keep then deleted = deleted + remove(id) end
    end
  end
end
if per == '' then
  for _, id in ipairs(redis.call('ZRANGE', OK, keep, -1, 'REV')) do deleted = deleted + remove(id) end
elseif per == 'group' then
  for _, group in ipairs(redis.call('SMEMBERS', GROUPS)) do pruneIndex(T .. 'group:' .. group) end
  pruneIndex(NOGROUP)
elseif per == 'func' then
  for _, func in ipairs(redis.call('SMEMBERS', FUNCS)) do pruneIndex(T .. 'func:' .. func) end
else
  -- Walk the name index; members of one name are adjacent.
  local names, seen = {}, {}
  for _, member in ipairs(redis.call('ZRANGE', BYNAME, 0, -1)) do
    local name = string.match(member, '^(.*)%z')
    if name and not seen[name] then
      seen[name] = true
      names[#names + 1] = name
    end
  end
  for _, name in ipairs(names) do
    local kept = 0
    for _, id in ipairs((idsByName(name))) do
      if redis.call('ZSCORE', OK, id) then
        kept = kept + 1
        if kept > keep then deleted = deleted + remove(id) end
      end
    end
  end
end
return deleted
