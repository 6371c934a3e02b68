/**
 * The Redis store's Lua scripts. Each runs atomically on the server; all use the server's clock
 * (TIME), so gateway pods with skewed clocks still agree. Arithmetic mirrors bucket.ts.
 *
 * Buckets are grouped by subject: all the per-minute buckets of one ApiKey (or ModelRoute) live
 * in one string key, `…rl:key:team-a/alpha` = "rpm 3 1795802685492 1795802745492;itpm …;", each
 * record being `field used ms-of-last-update ms-when-it-expires`. One GET and at most one SET
 * (with PX, so the key expires when its last bucket has drained) per subject per call: Redis'
 * own CPU per request matters when a fleet shares one Redis, and most of it is per command.
 * Slot sets (concurrency) are sorted sets of holder → lease expiry, one per subject, so the
 * slots of a pod that died free themselves.
 * Numbers going back into Redis commands are formatted explicitly (%d for TTLs and scores):
 * Redis would otherwise see Lua's float formatting.
 */

const PRELUDE = `
-- Redis < 5 refuses writes after TIME unless effects are replicated; later versions always do.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowstr = string.format('%d', now)
local MAXTTL = 1e12

-- A subject's buckets: field -> {u, t, e, raw}. Records are kept verbatim unless changed.
local function load(key)
  local g = {}
  local v = redis.call('GET', key)
  if v then
    for name, su, st, se in string.gmatch(v, '(%S+) (%S+) (%S+) (%S+);') do
      g[name] = { u = tonumber(su), t = tonumber(st), e = tonumber(se), raw = name .. ' ' .. su .. ' ' .. st .. ' ' .. se .. ';' }
    end
  end
  return g
end

-- What a bucket has used now, after continuous refill at rate per ms.
local function level(f, rate)
  if not f or f.e <= now then return 0 end
  local u = f.u
  if now > f.t and u > 0 then
    u = u - (now - f.t) * rate
    if u < 0 then u = 0 end
  end
  return u
end

-- Records a bucket's new level; it expires once drained, or after ttl ms if given.
local function put(g, name, u, rate, ttl)
  local e
  if u <= 0 then e = now
  elseif ttl > 0 then e = now + ttl
  elseif rate > 0 then e = now + math.ceil(u / rate)
  else e = now + MAXTTL end
  g[name] = { u = u, t = now, e = e }
end

local function save(key, g)
  local parts, last = {}, 0
  for name, f in pairs(g) do
    if f.e > now then
      parts[#parts + 1] = f.raw or (name .. ' ' .. tostring(f.u) .. ' ' .. nowstr .. ' ' .. string.format('%d', f.e) .. ';')
      if f.e > last then last = f.e end
    end
  end
  if #parts == 0 then
    redis.call('DEL', key)
  else
    redis.call('SET', key, table.concat(parts), 'PX', string.format('%d', math.min(last - now, MAXTTL) + 1000))
  end
end
`;

/**
 * One call carries the settlements queued since the last one and the admissions waiting for an
 * answer. Within a call each subject key is read once and written once, and each slot set is
 * counted once, given its new holders in one ZADD and its leavers in one ZREM: under load most
 * of Redis' work per request is then arithmetic, not commands and string formatting.
 * KEYS are consumed in order. ARGV: lease ms, #settled subjects, #slot sets released from,
 * #admissions, then
 * - per settled subject (key: the subject): #fields, then per field name, perMs, amount, ttl ms;
 * - per slot set released from (key: the set): #holders, then the holders;
 * - per admission: holder, #subjects, #slot sets; per subject: #fields, then per field name,
 *   capacity, perMs, cost, ttl ms; per slot set: max (keys: the subjects, then the slot sets).
 * Settlements apply first, then admissions one after the other, each checking everything and
 * taking everything only if everything fits: the same outcome as separate calls in that order.
 * Returns, per admission, {admitted, then ok and used for each field and slot set in the order
 * sent}, flattened; `used` rounded up to an integer (an integer reply spares Redis formatting
 * a float, and headers show whole numbers anyway).
 */
export const BATCH = `${PRELUDE}
local lease = tonumber(ARGV[1])
local ns, nr, na = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local k, a = 1, 5
local subjects, dirty = {}, {}
local function subject(key)
  local g = subjects[key]
  if not g then
    g = load(key)
    subjects[key] = g
  end
  return g
end

for _ = 1, ns do
  local key = KEYS[k]
  k = k + 1
  local g = subject(key)
  local nf = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, nf do
    local name, rate, amount, ttl = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    a = a + 4
    local u = level(g[name], rate) + amount
    if u < 0 then u = 0 end
    put(g, name, u, rate, ttl)
  end
  dirty[key] = true
end
for _ = 1, nr do
  local key = KEYS[k]
  k = k + 1
  local n = tonumber(ARGV[a])
  redis.call('ZREM', key, unpack(ARGV, a + 1, a + n))
  a = a + 1 + n
end

local out = {}
local expiry = string.format('%d', now + lease)
local slots, joined = {}, {}
for _ = 1, na do
  local holder, ng, nz = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local all = true
  local checks = {}
  for gi = 1, ng do
    local key = KEYS[k + gi - 1]
    local g = subject(key)
    local nf = tonumber(ARGV[a])
    a = a + 1
    for _ = 1, nf do
      local name, cap, rate, cost, ttl = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
      a = a + 5
      local u = level(g[name], rate)
      local need = math.min(cost, cap)
      local ok
      if cap <= 0 then ok = false
      elseif need <= 0 then ok = u < cap
      else ok = u + need <= cap + 1e-9 end
      if not ok then all = false end
      checks[#checks + 1] = { key = key, g = g, name = name, u = u, rate = rate, cost = cost, ttl = ttl, ok = ok }
    end
  end
  for zi = 1, nz do
    local key = KEYS[k + ng + zi - 1]
    local cap = tonumber(ARGV[a])
    a = a + 1
    local c = slots[key]
    if not c then
      c = redis.call('ZCARD', key)
      -- Expired leases (of a pod that died) only matter at the limit: sweep them only then.
      if c >= cap then
        redis.call('ZREMRANGEBYSCORE', key, '-inf', nowstr)
        c = redis.call('ZCARD', key)
      end
      slots[key] = c
    end
    local ok = cap > 0 and c < cap
    if not ok then all = false end
    checks[#checks + 1] = { z = key, u = c, ok = ok }
  end
  out[#out + 1] = all and 1 or 0
  for _, c in ipairs(checks) do
    if all then
      if c.z then
        c.u = c.u + 1
        slots[c.z] = c.u
        local j = joined[c.z]
        if not j then
          j = {}
          joined[c.z] = j
        end
        j[#j + 1] = expiry
        j[#j + 1] = holder
      elseif c.cost > 0 then
        -- Cost 0 changes nothing: draining is linear, so the stored record still computes the same.
        c.u = c.u + c.cost
        put(c.g, c.name, c.u, c.rate, c.ttl)
        dirty[c.key] = true
      end
    end
    out[#out + 1] = c.ok and 1 or 0
    out[#out + 1] = math.ceil(c.u - 1e-9)
  end
  k = k + ng + nz
end

for key in pairs(dirty) do save(key, subjects[key]) end
local keep = string.format('%d', lease * 2)
for key, j in pairs(joined) do
  redis.call('ZADD', key, unpack(j))
  redis.call('PEXPIRE', key, keep)
end
return out
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

/**
 * Reads buckets without changing them (the spend read-out). KEYS: subjects; ARGV: per subject
 * #fields, then per field its name and perMs. Returns each field's level now, in order, as a
 * string with every digit (Redis would truncate a Lua number reply to an integer).
 */
export const READ = `${PRELUDE}
local out = {}
local a = 1
for k = 1, #KEYS do
  local g = load(KEYS[k])
  local nf = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, nf do
    out[#out + 1] = string.format('%.17g', level(g[ARGV[a]], tonumber(ARGV[a + 1])))
    a = a + 2
  end
end
return out
`;
