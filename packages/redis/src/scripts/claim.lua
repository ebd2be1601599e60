-- Lease up to ARGV[1] ready messages for ARGV[2] ms.
-- KEYS: ready (list), msgs (hash), leases (zset id -> lease expiry ms), deliveries (hash id -> count),
--       delayed (zset), pready (zset of prioritized ready ids), prio (hash), seq,
--       claims (hash token -> leased ids), claim expiry (zset token -> ms),
--       limitRing, limitConf, limitOf, limitRunning, limitSeq
-- ARGV[3]: this call's token; ARGV[4]: the prefix of the per-key limit keys (see keys.ts)
-- Order: priorities above 0, then the ready list (lapsed leases first, then FIFO), then priorities below 0,
-- then messages with a keyed limit: keys take turns, one message each per round, skipping a key at its limit.
-- Returns { {id, deliveries, payload, ...}, msUntilSomethingIsDue or -1 }.
local max = tonumber(ARGV[1])
local leaseMs = tonumber(ARGV[2])

-- A claim sent again after its reply was lost (the connection dropped after Redis ran it; the client resends
-- unanswered commands on reconnect) returns the same deliveries, still leased, instead of leasing a second
-- batch that nobody receives and that would wait out its whole lease.
local token = ARGV[3]
local previous = redis.call('HGET', KEYS[9], token)
if previous then
  local again = {}
  for id in string.gmatch(previous, '[^,]+') do
    local payload = redis.call('HGET', KEYS[2], id)
    if payload and redis.call('ZSCORE', KEYS[3], id) then
      again[#again + 1] = id
      again[#again + 1] = tonumber(redis.call('HGET', KEYS[4], id))
      again[#again + 1] = payload
    end
  end
  return { again, -1 }
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limits = ARGV[4]

-- A limited message becoming ready goes to its key's list, and the key joins the turns (at the back).
local function readyLimited(id, key, atHead)
  if atHead then
    redis.call('LPUSH', limits .. 'ready:' .. key, id)
  else
    redis.call('RPUSH', limits .. 'ready:' .. key, id)
  end
  redis.call('ZADD', KEYS[11], 'NX', redis.call('INCR', KEYS[15]), key)
end

-- Expired leases: redeliver first (head of the list). A limited one frees its key's slot.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
if #expired > 0 then
  redis.call('ZREM', KEYS[3], unpack(expired))
  local plain = {}
  for _, id in ipairs(expired) do
    local key = redis.call('HGET', KEYS[13], id)
    if key then
      if redis.call('HINCRBY', KEYS[14], key, -1) < 0 then redis.call('HSET', KEYS[14], key, 0) end
      readyLimited(id, key, true)
    else
      plain[#plain + 1] = id
    end
  end
  if #plain > 0 then redis.call('LPUSH', KEYS[1], unpack(plain)) end
end
-- Delayed messages that are due: to the tail, or back among the prioritized ones.
local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 1000)
if #due > 0 then
  redis.call('ZREM', KEYS[5], unpack(due))
  local plain = {}
  for _, id in ipairs(due) do
    local priority = redis.call('HGET', KEYS[7], id)
    local key = redis.call('HGET', KEYS[13], id)
    if key then
      readyLimited(id, key, false)
    elseif priority then
      redis.call('HDEL', KEYS[7], id)
      redis.call('ZADD', KEYS[6], -tonumber(priority) * 1e12 + redis.call('INCR', KEYS[8]), id)
    else
      plain[#plain + 1] = id
    end
  end
  if #plain > 0 then redis.call('RPUSH', KEYS[1], unpack(plain)) end
end

local out = {}
local leased = {}
local taken = 0
local leaseUntil = now + leaseMs
local function lease(ids)
  for _, id in ipairs(ids) do
    local payload = redis.call('HGET', KEYS[2], id)
    -- An id without a payload was acknowledged while it waited (or is a wake-up token): skip it.
    if payload then
      local n = redis.call('HINCRBY', KEYS[4], id, 1)
      redis.call('ZADD', KEYS[3], leaseUntil, id)
      out[#out + 1] = id
      out[#out + 1] = n
      out[#out + 1] = payload
      leased[#leased + 1] = id
      taken = taken + 1
    end
  end
end
-- Prioritized ids with a score in [lo, hi].
local function takePrioritized(lo, hi)
  while taken < max do
    local ids = redis.call('ZRANGEBYSCORE', KEYS[6], lo, hi, 'LIMIT', 0, max - taken)
    if #ids == 0 then break end
    redis.call('ZREM', KEYS[6], unpack(ids))
    lease(ids)
  end
end

takePrioritized('-inf', '(0')
while taken < max do
  local ids = redis.call('LPOP', KEYS[1], max - taken)
  if not ids then break end
  lease(ids)
end
takePrioritized(0, '+inf')

-- Keyed limits. A key may deliver while its deliveries out are below its concurrency and its sliding-window log
-- (deliveries in the last perMs) holds fewer than max. `rateWait`: the soonest a rate-held key frees a slot.
local rateWait = nil
local function allows(key)
  local conf = redis.call('HGET', KEYS[12], key) or '||'
  local concurrency, maxRate, perMs = string.match(conf, '^(%d*)|(%d*)|(%d*)$')
  if concurrency ~= nil and concurrency ~= '' then
    if tonumber(redis.call('HGET', KEYS[14], key) or '0') >= tonumber(concurrency) then return false end
  end
  if maxRate ~= nil and maxRate ~= '' then
    local starts = limits .. 'starts:' .. key
    redis.call('ZREMRANGEBYSCORE', starts, '-inf', now - tonumber(perMs))
    if redis.call('ZCARD', starts) >= tonumber(maxRate) then
      local oldest = redis.call('ZRANGE', starts, 0, 0, 'WITHSCORES')
      local wait = tonumber(oldest[2]) + tonumber(perMs) - now
      if rateWait == nil or wait < rateWait then rateWait = wait end
      return false
    end
    return 'rate'
  end
  return true
end
if taken < max and redis.call('ZCARD', KEYS[11]) > 0 then
  local keys = redis.call('ZRANGE', KEYS[11], 0, 999)
  local served = true
  while served and taken < max do
    served = false
    for _, key in ipairs(keys) do
      if taken >= max then break end
      local list = limits .. 'ready:' .. key
      local allowed = allows(key)
      if allowed then
        local id = redis.call('LPOP', list)
        -- Skip ids acknowledged while they waited.
        while id and not redis.call('HGET', KEYS[2], id) do id = redis.call('LPOP', list) end
        if id then
          lease({ id })
          redis.call('HINCRBY', KEYS[14], key, 1)
          if allowed == 'rate' then
            redis.call('ZADD', limits .. 'starts:' .. key, now, id .. ':' .. redis.call('HGET', KEYS[4], id))
          end
          redis.call('ZADD', KEYS[11], 'XX', redis.call('INCR', KEYS[15]), key)
          served = true
        end
      end
      if redis.call('LLEN', list) == 0 then redis.call('ZREM', KEYS[11], key) end
    end
  end
end

-- Remember this claim for as long as its lease, and forget claims whose lease is over.
local stale = redis.call('ZRANGEBYSCORE', KEYS[10], '-inf', now, 'LIMIT', 0, 100)
if #stale > 0 then
  redis.call('HDEL', KEYS[9], unpack(stale))
  redis.call('ZREM', KEYS[10], unpack(stale))
end
if taken > 0 then
  redis.call('HSET', KEYS[9], token, table.concat(leased, ','))
  redis.call('ZADD', KEYS[10], leaseUntil, token)
end

local nextDue = -1
if taken == 0 then
  local firstLease = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  local delayed = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  local first = nil
  if firstLease[2] then first = tonumber(firstLease[2]) end
  if delayed[2] and (first == nil or tonumber(delayed[2]) < first) then first = tonumber(delayed[2]) end
  if rateWait ~= nil and (first == nil or now + rateWait < first) then first = now + rateWait end
  if first then nextDue = math.max(0, first - now) end
end
return { out, nextDue }
