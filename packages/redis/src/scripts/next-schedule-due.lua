-- ARGV: cluster. The earliest nextRun among active schedules this cluster may run, or false.
local best = false
for _, key in ipairs({ activeKey(nil), activeKey(ARGV[1]) }) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] and (not best or tonumber(first[2]) < best) then best = tonumber(first[2]) end
end
if not best then return false end
return tostring(best)
