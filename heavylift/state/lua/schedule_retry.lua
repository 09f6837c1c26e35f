-- Swap a failed delivery for a retry parked until it is due.
-- KEYS: ack set, queue hash, scheduled zset, scheduled hash.
-- ARGV: failed id, retry id, retry body, due (ms).
-- Returns 0 when this worker no longer held the message (recovery requeued it already).
if redis.call("srem", KEYS[1], ARGV[1]) == 0 then
    return 0
end
redis.call("hdel", KEYS[2], ARGV[1])
redis.call("hset", KEYS[4], ARGV[2], ARGV[3])
redis.call("zadd", KEYS[3], ARGV[4], ARGV[2])
return 1
