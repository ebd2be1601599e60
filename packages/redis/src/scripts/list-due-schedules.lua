-- ARGV: now (ms), cluster, limit. Active schedules for the cluster with
-- nextRun <= now, earliest first (then by id), at most limit: JSON each.
local now, limit = ARGV[1], tonumber(ARGV[3])
local due = {}
for _, key in ipairs({ activeKey(nil), activeKey(ARGV[2]) }) do
  local found = redis.call('ZRANGE', key, '-inf', now, 'BYSCORE', 'LIMIT', 0, limit, 'WITHSCORES')
  for i = 1, #found, 2 do due[#due + 1] = { id = found[i], at = tonumber(found[i + 1]) } end
end
table.sort(due, function(a, b)
  if a.at ~= b.at then return a.at < b.at end
  return a.id < b.id
end)
local out = {}
for i = 1, math.min(limit, #due) do out[i] = redis.call('HGET', DATA, due[i].id) end
return out
