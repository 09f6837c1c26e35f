-- Store a job record and its index entries unless the job exists.
-- KEYS: record, index registry, index sets... ARGV: record JSON, TTL, score, job id.
-- Returns {1, ""} when created, {0, existing record} when the job exists.
-- include: add_to_index
if not redis.call("set", KEYS[1], ARGV[1], "NX", "EX", ARGV[2]) then
  return {0, redis.call("get", KEYS[1])}
end
add_to_index(2, 3)
return {1, ""}
