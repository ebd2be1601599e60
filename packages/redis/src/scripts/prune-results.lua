-- Keep the newest ARGV[1] successes, overall or per ARGV[2] (group | func | name); failures stay.
-- Returns how many records were deleted.
-- Records of an unfinished iter (group "iter:<id>") are never deleted: the iter collates them later.
local keep, per = tonumber(ARGV[1]), ARGV[2]
local deleted = 0
local function prunable(id)
  local json = redis.call('HGET', REC, id)
  if not json then return false end
  local group = cjson.decode(json).group
  return not (hasGroup(group) and string.sub(group, 1, 5) == 'iter:')
end
local function removePrunable(id)
  if prunable(id) then return remove(id) end
  return 0
end
-- Deletes the successes of `ids` (newest first) beyond the first `keep`.
local function pruneList(ids)
  local kept = 0
  for _, id in ipairs(ids) do
    if redis.call('ZSCORE', OK, id) then
      kept = kept + 1
      if kept > keep then deleted = deleted + removePrunable(id) end
    end
  end
end
if per == '' then
  for _, id in ipairs(redis.call('ZRANGE', OK, keep, -1, 'REV')) do deleted = deleted + removePrunable(id) end
elseif per == 'group' then
  for _, group in ipairs(redis.call('SMEMBERS', GROUPS)) do
    pruneList(redis.call('ZRANGE', T .. 'group:' .. group, 0, -1, 'REV'))
  end
  -- Successes without a group form one more bucket (no index: read their records).
  local ungrouped = {}
  for _, id in ipairs(redis.call('ZRANGE', OK, 0, -1, 'REV')) do
    local json = redis.call('HGET', REC, id)
    if json and not hasGroup(cjson.decode(json).group) then ungrouped[#ungrouped + 1] = id end
  end
  pruneList(ungrouped)
elseif per == 'func' then
  for _, func in ipairs(redis.call('SMEMBERS', FUNCS)) do
    pruneList(redis.call('ZRANGE', T .. 'func:' .. func, 0, -1, 'REV'))
  end
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
  for _, name in ipairs(names) do pruneList((idsByName(name))) end
end
return deleted
