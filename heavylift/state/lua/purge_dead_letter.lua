-- Delete one dead letter for good.
-- KEYS: dead zset, dead hash, deliveries counter. ARGV: redis message id.
-- Returns 1 purged, 0 already gone.
if redis.call("zrem", KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call("hdel", KEYS[2], ARGV[1])
redis.call("del", KEYS[3])
return 1
