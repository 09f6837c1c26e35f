-- Replay one dead letter: off the dead letters, onto its queue as a first delivery.
-- KEYS: dead zset, dead hash, queue hash, queue list, deliveries counter.
-- ARGV: redis message id, new data, data as listed ("" to not compare).
-- Returns 1 moved, 0 gone (replayed or purged by someone else), -1 changed since listed.
if not redis.call("zscore", KEYS[1], ARGV[1]) then return 0 end
if ARGV[3] ~= "" and redis.call("hget", KEYS[2], ARGV[1]) ~= ARGV[3] then return -1 end
redis.call("zrem", KEYS[1], ARGV[1])
redis.call("hdel", KEYS[2], ARGV[1])
redis.call("hset", KEYS[3], ARGV[1], ARGV[2])
redis.call("rpush", KEYS[4], ARGV[1])
redis.call("del", KEYS[5])
return 1
