-- Sets (or replaces) a control value and its expiry. ARGV: key, value, ttl ms ('' = none).
write(ARGV[1], ARGV[2], tonumber(ARGV[3]))
return 1
