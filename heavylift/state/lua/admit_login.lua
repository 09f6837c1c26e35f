-- Admit (and count as a failure until it succeeds) a login try, or say how long to wait.
-- KEYS: one counter hash per scope (address, user name).
-- ARGV: now (ms), attempts, base (ms), cap (ms), TTL (s).
-- Returns 0 when the try is admitted (and counted), else the milliseconds left to wait.
local now, attempts = tonumber(ARGV[1]), tonumber(ARGV[2])
local base, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local wait = 0
for _, key in ipairs(KEYS) do
  local state = redis.call("hmget", key, "failures", "last")
  local failures = tonumber(state[1]) or 0
  if failures >= attempts then
    local backoff = math.min(base * 2 ^ (failures - attempts), cap)
    local left = (tonumber(state[2]) or now) + backoff - now
    if left > wait then wait = left end
  end
end
if wait > 0 then return math.ceil(wait) end
for _, key in ipairs(KEYS) do
  redis.call("hincrby", key, "failures", 1)
  redis.call("hset", key, "last", ARGV[1])
  redis.call("expire", key, ARGV[5])
end
return 0
