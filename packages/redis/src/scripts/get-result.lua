-- ARGV: id or name, '1' when it looks like a task id. Returns the record JSON or false.
if ARGV[2] == '1' then
  local json = redis.call('HGET', REC, ARGV[1])
  if json then return json end
end
local newest = redis.call('ZRANGE', T .. 'name:' .. ARGV[1], 0, 0, 'REV')
if newest[1] then return redis.call('HGET', REC, newest[1]) end
return false
