-- A function, included by the scripts that create records: index entries of a new record.
-- KEYS[first] is the index registry, the KEYS after it the record's index sets;
-- ARGV[score_at] is its score (created, ms), ARGV[score_at + 1] its job id.
local function add_to_index(first, score_at)
  for i = first + 1, #KEYS do redis.call("zadd", KEYS[i], ARGV[score_at], ARGV[score_at + 1]) end
  redis.call("sadd", KEYS[first], unpack(KEYS, first + 1))
end
