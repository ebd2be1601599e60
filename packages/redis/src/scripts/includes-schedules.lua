-- Shared helpers of the schedule-store scripts (prepended to each of them).
-- KEYS[1] is `{<prefix>:schedules}:`: schedules are shared by every cluster under
-- one prefix (unlike results, which are per namespace), so two clusters claim from
-- the same keys and a slot runs once. One hash tag: Redis Cluster safe.
-- A record is JSON of scalars only (args and taskOptions ride along as JSON text,
-- times as ms), so decoding and re-encoding it here changes nothing.
local S = KEYS[1]
local DATA = S .. 'data'     -- HASH id -> record JSON
local NAMES = S .. 'names'   -- HASH name -> id (names are unique)
local ALL = S .. 'all'       -- ZSET id -> nextRun: every schedule (ties order by id)
-- ZSET id -> nextRun of ACTIVE schedules (not paused, repeats ~= 0), one per cluster:
-- `active` for schedules any cluster may run, `active=<cluster>` for the others.
local function activeKey(cluster)
  if cluster == nil or cluster == cjson.null then return S .. 'active' end
  return S .. 'active=' .. cluster
end

local function isActive(r)
  return r.paused ~= true and tonumber(r.repeats) ~= 0
end

local function hasName(r)
  return r.name ~= nil and r.name ~= cjson.null
end

local function load(id)
  local json = redis.call('HGET', DATA, id)
  if not json then return nil end
  return cjson.decode(json)
end

local function unindex(r)
  redis.call('ZREM', ALL, r.id)
  redis.call('ZREM', activeKey(r.cluster), r.id)
  if hasName(r) and redis.call('HGET', NAMES, r.name) == r.id then redis.call('HDEL', NAMES, r.name) end
end

local function store(r)
  local json = cjson.encode(r)
  redis.call('HSET', DATA, r.id, json)
  redis.call('ZADD', ALL, r.nextRun, r.id)
  if isActive(r) then redis.call('ZADD', activeKey(r.cluster), r.nextRun, r.id) end
  if hasName(r) then redis.call('HSET', NAMES, r.name, r.id) end
  return json
end
