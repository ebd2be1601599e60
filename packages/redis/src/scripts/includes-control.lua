-- Shared helpers of the job-control scripts (prepended to each of them).
-- KEYS[1] is `{<prefix>:control}:`; every key below starts with it, so all of them share one hash slot
-- (Redis Cluster safe). Control values are shared by every cluster (result namespace) on the prefix.
local T = KEYS[1]

-- STRING: the value of a control key; its expiry is the key's own (SET PX).
local function valueKey(key) return T .. 'v:' .. key end

-- SET: the members of addMember's set `key` (a key may name both a value and a set).
local function setKey(key) return T .. 's:' .. key end

-- ZSET per namespace (the key up to and including its first ':', such as 'ctl:'): key -> expiry ms, '+inf' for
-- none. What listValues reads instead of scanning the keyspace. nil for a key without a namespace (never listed).
local function indexKey(key)
  local colon = string.find(key, ':', 1, true)
  if colon == nil or colon == 1 then return nil end
  return T .. 'ns:' .. string.sub(key, 1, colon)
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Sets the value with its expiry (ttl ms, or nil for none) and indexes it. Expired entries of the namespace's
-- index go on the way, so a namespace that is never listed (dedup:) does not pile them up.
local function write(key, value, ttl)
  if ttl then
    redis.call('SET', valueKey(key), value, 'PX', ttl)
  else
    redis.call('SET', valueKey(key), value)
  end
  local index = indexKey(key)
  if index then
    local now = nowMs()
    redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
    if ttl then
      redis.call('ZADD', index, now + ttl, key)
    else
      redis.call('ZADD', index, '+inf', key)
    end
  end
end
