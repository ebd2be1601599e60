-- ARGV: func, type, cluster, paused, offset, limit. An empty string matches
-- anything; cluster '-' means "any cluster may run it" (null), '=name' one cluster;
-- paused '1' / '0'. Returns { total, json... } ordered by nextRun, then id.
local func, typ, cluster, paused = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local offset, limit = tonumber(ARGV[5]), tonumber(ARGV[6])
local total, out = 0, {}
for _, id in ipairs(redis.call('ZRANGE', ALL, 0, -1)) do
  local json = redis.call('HGET', DATA, id)
  local r = cjson.decode(json)
  local ok = (func == '' or r.func == func) and (typ == '' or r.type == typ)
  if ok and cluster == '-' then ok = r.cluster == cjson.null end
  if ok and cluster ~= '-' and cluster ~= '' then ok = r.cluster == string.sub(cluster, 2) end
  if ok and paused ~= '' then ok = (r.paused == true) == (paused == '1') end
  if ok then
    if total >= offset and #out < limit then out[#out + 1] = json end
    total = total + 1
  end
end
table.insert(out, 1, total)
return out
