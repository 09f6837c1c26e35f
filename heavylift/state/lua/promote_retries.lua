-- Move due retries onto their queues. Each message names its queue; its keys are
-- ARGV[1] .. queue .. ARGV[2] (the list) and that plus ARGV[3] (the hash), as
-- heavylift.state.keys lays them out.
-- KEYS: scheduled zset, scheduled hash. ARGV: queue key prefix, queue key suffix,
-- message hash suffix, now (ms), batch size. Returns how many moved.
local ids = redis.call("zrangebyscore", KEYS[1], 0, ARGV[4], "LIMIT", 0, tonumber(ARGV[5]))
for _, id in ipairs(ids) do
    local body = redis.call("hget", KEYS[2], id)
    if body then
        local queue = ARGV[1] .. cjson.decode(body)["queue_name"] .. ARGV[2]
        redis.call("hset", queue .. ARGV[3], id, body)
        redis.call("rpush", queue, id)
    end
    redis.call("zrem", KEYS[1], id)
    redis.call("hdel", KEYS[2], id)
end
return #ids
