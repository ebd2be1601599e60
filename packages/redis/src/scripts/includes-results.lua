-- Shared helpers of the result-store scripts (prepended to each of them).
-- KEYS[1] is the store's key prefix `{<prefix>:results:<namespace>}:`; every key below
-- starts with it, so all of them share one hash slot (Redis Cluster safe).
local T = KEYS[1]
local REC = T .. 'rec'          -- HASH id -> record JSON
local ALL = T .. 'all'          -- ZSET id -> finish score (stoppedAt * 1000 + seq % 1000)
local OK = T .. 'ok'            -- ZSET successes
local FAILED = T .. 'failed'    -- ZSET failures
local EXPIRY = T .. 'expiry'    -- ZSET id -> expiry ms (records saved with a TTL)
local NOGROUP = T .. 'nogroup'  -- ZSET records without a group
local BYNAME = T .. 'byname'    -- ZSET (scores 0) of name .. '\0' .. id: lookups by name without a key per name
local GROUPS, FUNCS = T .. 'groups', T .. 'funcs' -- SETs of values in use

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function groupKey(group)
  if group == nil or group == cjson.null then return NOGROUP end
  return T .. 'group:' .. group
end

local function indexKeys(r)
  local status = FAILED
  if r.success then status = OK end
  return { ALL, status, groupKey(r.group), T .. 'func:' .. r.func }
end

-- Ids of the records named `name`, newest first.
local function idsByName(name)
  local members = redis.call('ZRANGEBYLEX', BYNAME, '[' .. name .. '\0', '(' .. name .. '\1')
  local ids = {}
  for i, member in ipairs(members) do ids[i] = string.sub(member, #name + 2) end
  local scores = {}
  for _, id in ipairs(ids) do scores[id] = tonumber(redis.call('ZSCORE', ALL, id)) or 0 end
  table.sort(ids, function(a, b) return scores[a] > scores[b] end)
  return ids, scores
end

local function index(id, r, score)
  for _, key in ipairs(indexKeys(r)) do redis.call('ZADD', key, score, id) end
  if r.group ~= nil and r.group ~= cjson.null then redis.call('SADD', GROUPS, r.group) end
  redis.call('SADD', FUNCS, r.func)
  redis.call('ZADD', BYNAME, 0, r.name .. '\0' .. id)
end

local function unindex(id, r)
  for _, key in ipairs(indexKeys(r)) do redis.call('ZREM', key, id) end
  if r.group ~= nil and r.group ~= cjson.null and redis.call('EXISTS', groupKey(r.group)) == 0 then
    redis.call('SREM', GROUPS, r.group)
  end
  if redis.call('EXISTS', T .. 'func:' .. r.func) == 0 then redis.call('SREM', FUNCS, r.func) end
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
