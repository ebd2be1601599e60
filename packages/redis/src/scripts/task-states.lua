-- The saved state of each id in ARGV that has a live record: returns a flat list of id, success (1|0), attemptCount.
-- Success comes from the index sets, attemptCount from the record's first field (the save script writes it first),
-- so no record JSON is decoded.
local now = nowMs()
local out = {}
for _, id in ipairs(ARGV) do
  local expires = redis.call('ZSCORE', EXPIRY, id)
  if not (expires and tonumber(expires) <= now) then
    local json = redis.call('HGET', REC, id)
    if json then
      local success = redis.call('ZSCORE', OK, id) and 1 or 0
      out[#out + 1] = id
      out[#out + 1] = success
      out[#out + 1] = tonumber(string.match(json, '^{"attemptCount":(%d+)')) or 1
    end
  end
end
return out
