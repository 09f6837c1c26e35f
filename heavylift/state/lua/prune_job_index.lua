-- Drop index entries of jobs created before a time; forget index sets left empty.
-- KEYS: registry, then index sets. ARGV: prune entries scored below this (ms).
-- Returns how many entries went.
local removed = 0
for i = 2, #KEYS do
  removed = removed + redis.call("zremrangebyscore", KEYS[i], "-inf", "(" .. ARGV[1])
  if redis.call("exists", KEYS[i]) == 0 then redis.call("srem", KEYS[1], KEYS[i]) end
end
return removed
