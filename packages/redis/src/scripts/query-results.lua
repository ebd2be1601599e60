-- Records matching every filter, ordered by finish time.
-- ARGV: order (asc|desc), offset, limit (-1 = all), countOnly (1|0),
--       success ('' | '1' | '0'), group ('' | '=' .. group), func ('' | '=' .. func), name ('' | '=' .. name)
-- Returns { total, json, json, ... } (just { total } when countOnly).
local desc = ARGV[1] == 'desc'
local offset, limit, countOnly = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local keys = {}
if ARGV[5] == '1' then keys[#keys + 1] = OK elseif ARGV[5] == '0' then keys[#keys + 1] = FAILED end
if ARGV[6] ~= '' then keys[#keys + 1] = T .. 'group:' .. string.sub(ARGV[6], 2) end
if ARGV[7] ~= '' then keys[#keys + 1] = T .. 'func:' .. string.sub(ARGV[7], 2) end
local byName = nil
if ARGV[8] ~= '' then byName = string.sub(ARGV[8], 2) end

local function range(key, from, to)
  if desc then return redis.call('ZRANGE', key, from, to, 'REV') end
  return redis.call('ZRANGE', key, from, to)
end

-- The page [offset, offset + limit) of an ordered list of ids.
local function page(list)
  local out = {}
  local last = #list
  if limit >= 0 then last = math.min(#list, offset + limit) end
  for j = offset + 1, last do out[#out + 1] = list[j] end
  return out
end

local function inAll(id, skip)
  for k = 1, #keys do
    if k ~= skip and not redis.call('ZSCORE', keys[k], id) then return false end
  end
  return true
end

local total
local ids
if byName then
  -- Few records share a name: filter them by every other index.
  local named, scores = idsByName(byName)
  local matches = {}
  for _, id in ipairs(named) do
    if scores[id] > 0 and inAll(id, 0) then matches[#matches + 1] = id end
  end
  if not desc then table.sort(matches, function(a, b) return scores[a] < scores[b] end) end
  total = #matches
  if countOnly then return { total } end
  ids = page(matches)
elseif #keys == 0 then
  -- Everything: merge the first offset + limit of successes and failures.
  total = redis.call('ZCARD', OK) + redis.call('ZCARD', FAILED)
  if countOnly then return { total } end
  local last = -1
  if limit >= 0 then last = offset + limit - 1 end
  local merged = {}
  for _, key in ipairs({ OK, FAILED }) do
    local items
    if desc then
      items = redis.call('ZRANGE', key, 0, last, 'REV', 'WITHSCORES')
    else
      items = redis.call('ZRANGE', key, 0, last, 'WITHSCORES')
    end
    for j = 1, #items, 2 do merged[#merged + 1] = { items[j], tonumber(items[j + 1]) } end
  end
  table.sort(merged, function(a, b)
    if desc then return a[2] > b[2] end
    return a[2] < b[2]
  end)
  local list = {}
  for j, item in ipairs(merged) do list[j] = item[1] end
  ids = page(list)
elseif #keys == 1 then
  total = redis.call('ZCARD', keys[1])
  if countOnly then return { total } end
  local last = -1
  if limit >= 0 then last = offset + limit - 1 end
  if limit == 0 then ids = {} else ids = range(keys[1], offset, last) end
else
  -- Walk the smallest index and keep what every other index holds.
  local driver = 1
  local smallest = redis.call('ZCARD', keys[1])
  for k = 2, #keys do
    local size = redis.call('ZCARD', keys[k])
    if size < smallest then driver, smallest = k, size end
  end
  local matches = {}
  for _, id in ipairs(range(keys[driver], 0, -1)) do
    if inAll(id, driver) then matches[#matches + 1] = id end
  end
  total = #matches
  if countOnly then return { total } end
  ids = page(matches)
end
local out = { total }
-- HMGET in slices: unpack() of a whole large group (thousands of ids) overflows Lua's C stack.
for first = 1, #ids, 1000 do
  for _, json in ipairs(redis.call('HMGET', REC, unpack(ids, first, math.min(first + 999, #ids)))) do
    if json then out[#out + 1] = json end
  end
end
return out
