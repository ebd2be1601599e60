-- ARGV: id or name, '1' when it looks like a task id. Returns the record JSON or false.
local now = nowMs()
local function live(id)
  local expires = redis.call('ZSCORE', EXPIRY, id)
  if expires and tonumber(expires) <= now then return false end
  return redis.call('HGET', REC, id)
end
if ARGV[2] == '1' then
  local json = live(ARGV[1])
  if json then return json end
end
for _, id in ipairs((idsByName(ARGV[1]))) do
  local json = live(id)
  if json then return json end
end
return false
