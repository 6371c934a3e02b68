/**
 * The Redis store's Lua scripts. Each runs atomically on the server; all use the server's clock
 * (TIME), so gateway pods with skewed clocks still agree. Arithmetic mirrors bucket.ts.
 * Buckets are hashes {u: used, t: ms of last update} that expire once drained; slot sets are
 * sorted sets of holder → lease expiry, so the slots of a pod that died free themselves.
 * Numbers going back into Redis commands are formatted explicitly (%d for TTLs and scores):
 * Redis would otherwise see Lua's float formatting.
 */

const PRELUDE = `
-- Redis < 5 refuses writes after TIME unless effects are replicated; later versions always do.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function current(key, rate)
  local v = redis.call('HMGET', key, 'u', 't')
  local u = tonumber(v[1]) or 0
  local at = tonumber(v[2]) or now
  if now > at and u > 0 then
    u = u - (now - at) * rate
    if u < 0 then u = 0 end
  end
  return u
end
local function store(key, u, rate, ttl)
  if u <= 0 and ttl <= 0 then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'u', tostring(u), 't', string.format('%d', now))
  local exp = ttl
  if exp <= 0 then exp = math.ceil(u / rate) + 1000 end
  if exp > 1e12 then exp = 1e12 end
  if exp < 1000 then exp = 1000 end
  redis.call('PEXPIRE', key, string.format('%d', exp))
end
`;

/**
 * Admission, the one round trip on the hot path. KEYS: one per check. ARGV: holder, lease ms, then
 * five per check: kind ('r' bucket | 's' slots), capacity (or max), perMs, cost, ttl ms.
 * Checks every key first; takes everything only if everything fits.
 * Returns {admitted, ok1, used1, ok2, used2, …} with `used` as strings (Lua numbers would be
 * truncated to integers in the reply).
 */
export const ADMIT = `${PRELUDE}
local holder, lease = ARGV[1], tonumber(ARGV[2])
local n = #KEYS
local used, pass = {}, {}
local all = true
for i = 1, n do
  local a = 2 + (i - 1) * 5
  local kind, cap, rate, cost = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local ok
  if kind == 'r' then
    local u = current(KEYS[i], rate)
    used[i] = u
    local need = math.min(cost, cap)
    if cap <= 0 then ok = false
    elseif need <= 0 then ok = u < cap
    else ok = u + need <= cap + 1e-9 end
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%d', now))
    local c = redis.call('ZCARD', KEYS[i])
    used[i] = c
    ok = cap > 0 and c < cap
  end
  pass[i] = ok
  if not ok then all = false end
end
local out = { all and 1 or 0 }
for i = 1, n do
  local a = 2 + (i - 1) * 5
  if all then
    if ARGV[a + 1] == 'r' then
      local rate, cost, ttl = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
      -- Cost 0 changes nothing: draining is linear, so the stored state still computes the same.
      if cost > 0 then
        used[i] = used[i] + cost
        store(KEYS[i], used[i], rate, ttl)
      end
    else
      redis.call('ZADD', KEYS[i], string.format('%d', now + lease), holder)
      redis.call('PEXPIRE', KEYS[i], string.format('%d', lease * 2))
      used[i] = used[i] + 1
    end
  end
  out[#out + 1] = pass[i] and 1 or 0
  out[#out + 1] = tostring(used[i])
end
return out
`;

/**
 * Settlement: usage debits (or refunds) and slot releases of one request. KEYS: the buckets
 * (ARGV[1] of them) then the slot sets. ARGV: count, holder, then three per bucket: perMs,
 * amount, ttl ms.
 */
export const SETTLE = `${PRELUDE}
local nb, holder = tonumber(ARGV[1]), ARGV[2]
for i = 1, nb do
  local a = 2 + (i - 1) * 3
  local rate, amount, ttl = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local u = current(KEYS[i], rate) + amount
  if u < 0 then u = 0 end
  store(KEYS[i], u, rate, ttl)
end
for i = nb + 1, #KEYS do
  redis.call('ZREM', KEYS[i], holder)
end
return 1
`;

/**
 * Lease renewal for the requests a pod still has in flight (long streams). KEYS[1]: a slot set;
 * ARGV: lease ms, then holders. Re-adds them too, so after a Redis restart the streams still
 * running count again.
 */
export const RENEW = `${PRELUDE}
local lease = tonumber(ARGV[1])
local score = string.format('%d', now + lease)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], score, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], string.format('%d', lease * 2))
return 1
`;
