-- ARGV: id, expected nextRun (ms), 'delete' | 'run', nextRun, repeats, lastTaskId, lastRunAt.
-- Compare-and-set on nextRun: the one claim that finds the schedule active at the
-- expected slot records the run (or deletes it) and returns 1; every other returns 0.
-- Scripts run one at a time, so of any number of claimers exactly one wins.
local r = load(ARGV[1])
if not r or not isActive(r) or tonumber(r.nextRun) ~= tonumber(ARGV[2]) then return 0 end
unindex(r)
if ARGV[3] == 'delete' then
  redis.call('HDEL', DATA, r.id)
  return 1
end
r.nextRun = tonumber(ARGV[4])
r.repeats = tonumber(ARGV[5])
r.lastTaskId = ARGV[6]
r.lastRunAt = tonumber(ARGV[7])
r.updatedAt = r.lastRunAt
store(r)
return 1
