-- Put back what a dead worker fetched but never finished; then drop its ack set.
-- KEYS[1] = an ack set (<ns>:__acks__.<worker>.<queue>), KEYS[2] = that queue's list,
-- KEYS[3] = its message hash. Only ids whose message still exists are moved.
-- Returns how many moved.
local ids = redis.call("smembers", KEYS[1])
local moved = 0
for _, id in ipairs(ids) do
    if redis.call("hexists", KEYS[3], id) == 1 then
        redis.call("rpush", KEYS[2], id)
        moved = moved + 1
    end
end
redis.call("del", KEYS[1])
return moved
