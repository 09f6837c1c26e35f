-- A submission in one step: the job record and its Dramatiq message, or the existing job.
-- KEYS: record, queue list, queue hash, metrics hash, history minute hash, index registry,
-- index sets... ARGV: record JSON, TTL, message id, body, max depth, metrics field ("" for
-- none), history retention (0 for none), score, id.
-- Returns {1, ""} created, {0, existing record} a duplicate, {-1, ""} the queue is full.
-- include: add_to_index
local existing = redis.call("get", KEYS[1])
if existing then return {0, existing} end
local depth = tonumber(ARGV[5])
if depth > 0 and redis.call("llen", KEYS[2]) >= depth then return {-1, ""} end
redis.call("set", KEYS[1], ARGV[1], "EX", ARGV[2])
redis.call("hset", KEYS[3], ARGV[3], ARGV[4])
redis.call("rpush", KEYS[2], ARGV[3])
if ARGV[6] ~= "" then redis.call("hincrby", KEYS[4], ARGV[6], 1) end
if ARGV[7] ~= "0" then
  redis.call("hincrby", KEYS[5], "submitted", 1)
  redis.call("expire", KEYS[5], ARGV[7])
end
add_to_index(6, 8)
return {1, ""}
