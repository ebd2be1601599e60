-- Shared helpers of the result-store scripts (prepended to each of them).
-- KEYS[1] is the store's key prefix `{<prefix>:results:<namespace>}:`; every key below
-- starts with it, so all of them share one hash slot (Redis Cluster safe).
-- Every save touches few indexes (ZADD into big sorted sets is what a save costs).
local T = KEYS[1]
local REC = T .. 'rec'          -- HASH id -> record JSON
local OK = T .. 'ok'            -- ZSET successes: id -> finish score (stoppedAt * 1000 + seq % 1000)
local FAILED = T .. 'failed'    -- ZSET failures, same scores
local EXPIRY = T .. 'expiry'    -- ZSET id -> expiry ms (records saved with a TTL)
local BYNAME = T .. 'byname'    -- ZSET (scores 0) of name .. '\0' .. id: lookups by name without a key per name
local GROUPS, FUNCS = T .. 'groups', T .. 'funcs' -- SETs of values in use

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function hasGroup(group)
  return group ~= nil and group ~= cjson.null
end

-- The finish score of a record, or nil.
local function scoreOf(id)
  return tonumber(redis.call('ZSCORE', OK, id) or redis.call('ZSCORE', FAILED, id))
end

-- Ids of the records named `name`, newest first, and their scores.
local function idsByName(name)
  local members = redis.call('ZRANGEBYLEX', BYNAME, '[' .. name .. '\0', '(' .. name .. '\1')
  local ids, scores = {}, {}
  for i, member in ipairs(members) do
    local id = string.sub(member, #name + 2)
    ids[i] = id
    scores[id] = scoreOf(id) or 0
  end
  table.sort(ids, function(a, b) return scores[a] > scores[b] end)
  return ids, scores
end

local function index(id, success, group, func, name, score)
  if success then redis.call('ZADD', OK, score, id) else redis.call('ZADD', FAILED, score, id) end
  if hasGroup(group) then
    redis.call('ZADD', T .. 'group:' .. group, score, id)
    redis.call('SADD', GROUPS, group)
  end
  redis.call('ZADD', T .. 'func:' .. func, score, id)
  redis.call('SADD', FUNCS, func)
  redis.call('ZADD', BYNAME, 0, name .. '\0' .. id)
end

local function unindex(id, r)
  redis.call('ZREM', OK, id)
  redis.call('ZREM', FAILED, id)
  if hasGroup(r.group) then
    local key = T .. 'group:' .. r.group
    redis.call('ZREM', key, id)
    if redis.call('EXISTS', key) == 0 then redis.call('SREM', GROUPS, r.group) end
  end
  local funcKey = T .. 'func:' .. r.func
  redis.call('ZREM', funcKey, id)
  if redis.call('EXISTS', funcKey) == 0 then redis.call('SREM', FUNCS, r.func) end
  redis.call('ZREM', BYNAME, r.name .. '\0' .. id)
end

-- Removes one record and its index entries; 1 when it existed.
local function remove(id)
  local json = redis.call('HGET', REC, id)
  if not json then return 0 end
  unindex(id, cjson.decode(json))
  redis.call('HDEL', REC, id)
  redis.call('ZREM', EXPIRY, id)
  return 1
end

-- Records saved with a TTL are removed by the first store call after they expire.
local function reap()
  local expired = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', nowMs(), 'LIMIT', 0, 2000)
  for _, id in ipairs(expired) do remove(id) end
end

reap()
