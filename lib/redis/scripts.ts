/**
 * The Lua scripts behind the Redis proxies: each step that reads and then writes runs as one script, so it is
 * atomic in Redis whatever the other clients do. Times come from the server's clock (TIME), never a client's.
 *
 * Errors are replies whose first word names our class (client.ts maps them): MPGONE (the object was removed),
 * MPLOST (a lease or an in-flight item that was this process's is no longer), MPVALUE <code> <message>,
 * MPASSERT <message>.
 */

const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function gone_error()
  return redis.error_reply('MPGONE this object no longer exists in Redis (its manager shut down, or it was removed)')
end
local function gone(key)
  if redis.call('EXISTS', key) == 0 then return gone_error() end
end
-- Wake-up tokens: at most min(free, 64) in the list, so a waiter that wakes has something to take.
local function sync_tokens(list, free)
  local want = math.min(free, 64)
  if want <= 0 then redis.call('DEL', list) return end
  local have = redis.call('LLEN', list)
  if have > want then redis.call('LTRIM', list, 0, want - 1)
  else for _ = have + 1, want do redis.call('RPUSH', list, 1) end end
end
`;

/**
 * Semaphores: KEYS = sem, wake (list). `sem` is one hash holding the whole state, and the uncontended pair is what
 * every lock user pays (docs/redis.md, Benchmarks): inside a script each command costs about a microsecond more
 * than its own work, each write and each field written more again, and running a script at all costs more than a
 * plain command. So the uncontended acquire is a script that reads three times (HMGET, HLEN, TIME) and writes once
 * (HSET), its fast path placed before the helpers below are defined (defining them costs more than half a
 * microsecond a call); and the uncontended release is no script at all, a plain HDEL of the holder's field, which
 * the client sends first (locks.ts) and which finds the field only while nobody waits (below). The hash's own fields:
 *   total  units in existence, free or held (a release by another process may add some: Semaphore)
 *   bound  the most units there may be (-1: none)
 *   fence  the last fencing token issued
 *   died   units that came back from ended leases and were not yet reported to an acquirer
 *   first  no lease ends before this time: a lower bound, exact after a reap (0: unknown). An acquire leaves it:
 *          every lease ends the object's one lease length after it was set, so a new one never ends first
 *   wait   until when a waiter may be blocked on the wake-up list (0: nobody)
 * and every other field is a unit held, holder's member -> lease end (server ms), so the free count is total less
 * the holders, HLEN less the six own fields. A holder's field is its member, or ~member ("contended") once a
 * waiter may need waking on its release: the first waiter (wait going from 0) renames every holder's field, new
 * holders get the ~ name while wait is not 0 (the acquire tells the client which name), and a ~ name stays until
 * the release. So a plain HDEL of a member finds it only while no waiter can need waking; when it finds nothing
 * (the holder was contended, or its lease was lost), the client runs sem_release, which tells the two apart.
 */
const OWN_FIELDS = 6;
const SEMAPHORE = `${COMMON}
local OWN = {total = true, bound = true, fence = true, died = true, first = true, wait = true}
-- The own fields and the number of units held, or nil when the object was removed.
local function load()
  local v = redis.call('HMGET', KEYS[1], 'total', 'bound', 'fence', 'died', 'first', 'wait')
  if not v[1] then return nil end
  return {total = tonumber(v[1]), bound = tonumber(v[2]), fence = tonumber(v[3]), died = tonumber(v[4]),
    first = tonumber(v[5]), wait = tonumber(v[6]), held = redis.call('HLEN', KEYS[1]) - ${OWN_FIELDS}}
end
-- Off the fast path: one HSET of every own field that can change, and of the extra field-value pairs given.
local function save(s, ...)
  redis.call('HSET', KEYS[1], 'total', s.total, 'fence', s.fence, 'died', s.died, 'first', s.first, 'wait', s.wait, ...)
end
local function free(s)
  return s.total - s.held
end
-- Every unit held: field (member or ~member) -> lease end. O(holders): only off the fast paths.
local function holders()
  local all = redis.call('HGETALL', KEYS[1])
  local h = {}
  for i = 1, #all, 2 do
    if not OWN[all[i]] then h[all[i]] = tonumber(all[i + 1]) end
  end
  return h
end
-- The field of member's unit in h, or nil when it holds none.
local function field_of(h, member)
  if h[member] then return member end
  if h['~' .. member] then return '~' .. member end
end
-- The field a new holder gets: ~member while a waiter may need waking on its release.
local function new_field(s, member)
  if s.wait ~= 0 then return '~' .. member end
  return member
end
-- The first waiter comes: every holder's field becomes ~member, so that its release runs sem_release and wakes.
local function contend(h)
  for f, e in pairs(h) do
    if string.sub(f, 1, 1) ~= '~' then
      redis.call('HDEL', KEYS[1], f)
      redis.call('HSET', KEYS[1], '~' .. f, e)
    end
  end
end
-- The earliest lease end of h (0: none).
local function earliest(h)
  local first = 0
  for _, e in pairs(h) do
    if first == 0 or e < first then first = e end
  end
  return first
end
-- Leases of h that ended go back: each is a unit whose holder died (or stopped renewing), reported to the next
-- acquirers. Removes them from h and Redis; the caller saves s.
local function reap(s, h, now)
  for f, e in pairs(h) do
    if e <= now then
      redis.call('HDEL', KEYS[1], f)
      h[f] = nil
      s.held = s.held - 1
      s.died = s.died + 1
    end
  end
  s.first = earliest(h)
end
-- Wake-up tokens go to the list only while someone may be blocked on it; once s.wait has passed, the list and
-- s.wait are cleared. Returns true when s.wait changed (the caller saves s). now: nil to read the clock if needed.
local function wake(s, now)
  if s.wait == 0 then return false end
  if (now or now_ms()) <= s.wait then
    sync_tokens(KEYS[2], free(s))
    return false
  end
  s.wait = 0
  redis.call('DEL', KEYS[2])
  return true
end
`;

/**
 * ARGV: member, lease ms, how long from now this caller may be blocked on the wake-up list if it gets nothing (0:
 * it will not wait). Returns {1, fencing token, owner died (1/0), the unit's field (member or ~member)} or {0, ms
 * until the earliest lease ends (-1: none)}; the fast path returns the fencing token alone (an integer reply costs
 * the server less than an array), its field being the member.
 * Leases are reaped only when no unit is free and one may have ended (s.first): a free unit is taken without them,
 * and a lease that ended but whose unit nobody needed yet is still its holder's.
 */
const sem_acquire = `
-- The fast path: a unit is free, no dead holder's unit is to be reported, nobody waits.
local v = redis.call('HMGET', KEYS[1], 'total', 'fence', 'died', 'wait')
if v[1] and v[3] == '0' and v[4] == '0' and tonumber(v[1]) > redis.call('HLEN', KEYS[1]) - ${OWN_FIELDS} then
  local t = redis.call('TIME')
  local fence = tonumber(v[2]) + 1
  redis.call('HSET', KEYS[1], 'fence', fence, ARGV[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2]))
  return fence
end
${SEMAPHORE}
local s = load() if not s then return gone_error() end
local now = now_ms()
local h -- the holders, read when needed
local changed = false
if free(s) <= 0 and s.held > 0 and s.first <= now then
  h = holders()
  reap(s, h, now)
  changed = true
end
if free(s) > 0 then
  s.fence = s.fence + 1
  local died = 0
  if s.died > 0 then
    s.died = s.died - 1
    died = 1
  end
  s.held = s.held + 1
  wake(s, now)
  local f = new_field(s, ARGV[1])
  save(s, f, now + tonumber(ARGV[2]))
  return {1, s.fence, died, f}
end
-- Nothing is free, so any token left in the list is stale: a waiter must not take it for a release.
redis.call('DEL', KEYS[2])
local waits = tonumber(ARGV[3])
if waits > 0 then
  if s.wait == 0 then contend(h or holders()) end
  if now + waits > s.wait then
    s.wait = now + waits
    changed = true
  end
end
if changed then save(s) end
if s.held == 0 then return {0, -1} end
return {0, s.first - now}
`;

/**
 * ARGV: own count k, k own units' fields (or members), foreign units, recursive flag. Sent for a release the plain
 * HDEL of its field did not do, or could not (a ~member field: someone may be waiting). A release does not reap: it needs no clock, and a lease that ended unreaped is still its holder's.
 */
const sem_release = `${SEMAPHORE}
local s = load() if not s then return gone_error() end
local k = tonumber(ARGV[1])
local foreign = tonumber(ARGV[k + 2])
local lost = 'MPLOST this process no longer holds it: its lease ended (the process was paused or ' ..
  'cut off longer than the lease) or another process released it'
if foreign == 0 and k == 1 then
  -- Its one unit (contended: someone may be waiting): giving back a held unit never exceeds a bound.
  local v = redis.call('HMGET', KEYS[1], '~' .. ARGV[2], ARGV[2])
  local f
  if v[1] then f = '~' .. ARGV[2] elseif v[2] then f = ARGV[2] else return redis.error_reply(lost) end
  redis.call('HDEL', KEYS[1], f)
  s.held = s.held - 1
  if wake(s) then save(s) end
  return 1
end
local h = holders()
local own = {}
for i = 2, k + 1 do
  own[i - 1] = field_of(h, ARGV[i])
  if not own[i - 1] then return redis.error_reply(lost) end
end
-- An RLock this process does not hold (held by another, or by nobody): as a Manager's or a local RLock says.
if foreign > 0 and ARGV[k + 3] == '1' then
  return redis.error_reply('MPASSERT attempt to release recursive lock not owned by process')
end
-- A release by another process frees units held by others, those whose leases end first; past them it adds units.
-- (Checked before any write: a script's writes stay when it returns an error.)
for _, f in ipairs(own) do h[f] = nil end
local others = {}
for f, e in pairs(h) do others[#others + 1] = {f, e} end
local drop = math.min(foreign, #others)
if s.bound >= 0 and s.total + foreign - drop > s.bound then
  return redis.error_reply('MPVALUE ERR_MP_VALUE semaphore or lock released too many times')
end
table.sort(others, function(a, b) return a[2] < b[2] end)
for _, f in ipairs(own) do redis.call('HDEL', KEYS[1], f) end
for i = 1, drop do redis.call('HDEL', KEYS[1], others[i][1]) end
s.total = s.total + foreign - drop
s.held = s.held - k - drop
wake(s)
save(s)
return 1
`;

const sem_value = `${SEMAPHORE}
local s = load() if not s then return gone_error() end
local now = now_ms()
local reaped = s.held > 0 and s.first <= now
if reaped then reap(s, holders(), now) end
if wake(s, now) or reaped then save(s) end
return free(s)
`;

// ARGV: lease ms, members. Returns the members whose lease had already ended (they are lost).
const sem_renew = `${SEMAPHORE}
local s = load() if not s then return gone_error() end
local now = now_ms()
local h = holders()
reap(s, h, now)
local ends = now + tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV do
  local f = field_of(h, ARGV[i])
  if f then
    redis.call('HSET', KEYS[1], f, ends)
    h[f] = ends
  else
    lost[#lost + 1] = ARGV[i]
  end
end
s.first = earliest(h)
wake(s, now)
save(s)
return lost
`;

/** Events: KEYS = flag ('0' or '1'), wake (a list holding one token while the flag is set). */
const ev_set = `${COMMON}
local err = gone(KEYS[1]) if err then return err end
redis.call('SET', KEYS[1], '1')
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], '1')
return 1
`;

const ev_clear = `${COMMON}
local err = gone(KEYS[1]) if err then return err end
redis.call('SET', KEYS[1], '0')
redis.call('DEL', KEYS[2])
return 1
`;

const ev_isset = `${COMMON}
local err = gone(KEYS[1]) if err then return err end
return tonumber(redis.call('GET', KEYS[1]))
`;

/**
 * Queues: KEYS = meta (hash: maxsize, joinable, unfinished), items (list), inflight (this process's list),
 * consumers (zset process -> lease end), room (list: tokens for bounded puts), joined (list: a token while no
 * task is unfinished). An item is "<2 hex: redeliveries><28 hex: producer and sequence>|<payload>".
 */
const QUEUE = `${COMMON}
local function free_room()
  local maxsize = tonumber(redis.call('HGET', KEYS[1], 'maxsize'))
  if maxsize > 0 then sync_tokens(KEYS[5], maxsize - redis.call('LLEN', KEYS[2])) end
end
`;

// ARGV: item.
const q_put = `${QUEUE}
local err = gone(KEYS[1]) if err then return err end
local maxsize = tonumber(redis.call('HGET', KEYS[1], 'maxsize'))
if maxsize > 0 and redis.call('LLEN', KEYS[2]) >= maxsize then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'joinable') == '1' then
  redis.call('HINCRBY', KEYS[1], 'unfinished', 1)
  redis.call('DEL', KEYS[6])
end
free_room()
return 1
`;

/**
 * ARGV: consumer (this process), lease ms, in-flight key prefix, recover ('1': items in this process's in-flight
 * list that it does not know of were moved there by a take whose reply it never got: they go back to the head of
 * the queue), n, n ids of items this process took and acknowledges now, then the ids of the items it knows it
 * holds. The next item moves to this process's in-flight list. Returns {item or false, ms until the next consumer
 * lease ends (-1: none)}.
 */
const q_take = `${QUEUE}
local err = gone(KEYS[1]) if err then return err end
local now = now_ms()
-- Consumers whose lease ended died (or were cut off): what they had in flight goes back, in order, redelivered.
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)) do
  local list = ARGV[3] .. dead
  while true do
    local it = redis.call('RPOP', list)
    if not it then break end
    local count = math.min(255, tonumber(string.sub(it, 1, 2), 16) + 1)
    redis.call('LPUSH', KEYS[2], string.format('%02x', count) .. string.sub(it, 3))
  end
  redis.call('ZREM', KEYS[4], dead)
end
local acks = tonumber(ARGV[5])
if ARGV[4] == '1' or acks > 0 then
  local ack, known = {}, {}
  for i = 6, 5 + acks do ack[ARGV[i]] = true end
  for i = 6 + acks, #ARGV do known[ARGV[i]] = true end
  for _, it in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    local id = string.sub(it, 3, 30)
    if ack[id] then redis.call('LREM', KEYS[3], 1, it)
    elseif ARGV[4] == '1' and not known[id] then
      redis.call('LREM', KEYS[3], 1, it)
      redis.call('LPUSH', KEYS[2], it)
    end
  end
end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[2]), ARGV[1])
local item = redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT')
free_room()
local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local left = -1
if #first > 0 then left = tonumber(first[2]) - now end
return {item, left}
`;

// A Queue's get acknowledges its item (it leaves this process's in-flight list). ARGV: the item's id.
const q_ack = `${QUEUE}
local err = gone(KEYS[1]) if err then return err end
for _, it in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  if string.sub(it, 3, 30) == ARGV[1] then
    redis.call('LREM', KEYS[3], 1, it)
    return 1
  end
end
return 0
`;

// After a BLMOVE into this process's in-flight list. ARGV: item, consumer, lease ms. Returns 0 if the item was
// redelivered meanwhile (this process's lease had ended), else 1 (and the consumer lease goes on).
const q_took = `${QUEUE}
local err = gone(KEYS[1]) if err then return err end
free_room()
if not redis.call('LPOS', KEYS[3], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[4], now_ms() + tonumber(ARGV[3]), ARGV[2])
return 1
`;

// taskDone: the oldest item this process holds in flight is done. Returns 0 when it holds none.
const q_done = `${QUEUE}
local err = gone(KEYS[1]) if err then return err end
if tonumber(redis.call('HGET', KEYS[1], 'unfinished')) <= 0 then
  return redis.error_reply('MPVALUE ERR_MP_VALUE task_done() called too many times')
end
if not redis.call('LPOP', KEYS[3]) then return 0 end
if redis.call('HINCRBY', KEYS[1], 'unfinished', -1) == 0 then
  redis.call('DEL', KEYS[6])
  redis.call('RPUSH', KEYS[6], '1')
end
return 1
`;

// ARGV: consumer, lease ms. Keeps this process's consumer lease (its in-flight items) alive.
const q_renew = `${QUEUE}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if not redis.call('ZSCORE', KEYS[4], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[4], now_ms() + tonumber(ARGV[2]), ARGV[1])
return 1
`;

// Returns {items waiting, maxsize, unfinished}.
const q_state = `${QUEUE}
local err = gone(KEYS[1]) if err then return err end
local m = redis.call('HMGET', KEYS[1], 'maxsize', 'unfinished')
return {redis.call('LLEN', KEYS[2]), tonumber(m[1]), tonumber(m[2] or '0')}
`;

/** dict and Namespace: KEYS = meta (hash: seq), data (hash field -> value), order (zset field -> insertion). */
const DICT = `${COMMON}
local function put(field, value)
  if redis.call('HSET', KEYS[2], field, value) == 1 then
    redis.call('ZADD', KEYS[3], redis.call('HINCRBY', KEYS[1], 'seq', 1), field)
  end
end
local function remove(field)
  redis.call('HDEL', KEYS[2], field)
  redis.call('ZREM', KEYS[3], field)
end
`;


// ARGV: field, value, field, value, ...
const d_set = `${DICT}
local err = gone(KEYS[1]) if err then return err end
for i = 1, #ARGV, 2 do put(ARGV[i], ARGV[i + 1]) end
return 1
`;

const d_has = `${DICT}
local err = gone(KEYS[1]) if err then return err end
return redis.call('HEXISTS', KEYS[2], ARGV[1])
`;

// Returns the value removed, or nil.
const d_pop = `${DICT}
local err = gone(KEYS[1]) if err then return err end
local value = redis.call('HGET', KEYS[2], ARGV[1])
if value then remove(ARGV[1]) end
return value
`;

const d_setdefault = `${DICT}
local err = gone(KEYS[1]) if err then return err end
local value = redis.call('HGET', KEYS[2], ARGV[1])
if value then return value end
put(ARGV[1], ARGV[2])
return ARGV[2]
`;

const d_popitem = `${DICT}
local err = gone(KEYS[1]) if err then return err end
local last = redis.call('ZRANGE', KEYS[3], -1, -1)
if #last == 0 then return redis.error_reply('MPVALUE ERR_MP_KEY popitem(): dict is empty') end
local value = redis.call('HGET', KEYS[2], last[1])
remove(last[1])
return {last[1], value}
`;

const d_clear = `${DICT}
local err = gone(KEYS[1]) if err then return err end
redis.call('DEL', KEYS[2], KEYS[3])
return 1
`;


// Returns {field, value, field, value, ...} in insertion order; ARGV[1] '0' leaves the values out.
const d_entries = `${DICT}
local err = gone(KEYS[1]) if err then return err end
local fields = redis.call('ZRANGE', KEYS[3], 0, -1)
if ARGV[1] == '0' or #fields == 0 then return fields end
local values = redis.call('HMGET', KEYS[2], unpack(fields))
local out = {}
for i = 1, #fields do out[2 * i - 1] = fields[i] out[2 * i] = values[i] end
return out
`;

/** list: KEYS = meta, items (list). Indices in ARGV are already Python's (negative from the end). */
const LIST = `${COMMON}
local function index_error(i, n)
  return redis.error_reply('MPVALUE ERR_MP_INDEX list index ' .. i .. ' out of range (length ' .. n .. ')')
end
local function at(i, n)
  local j = tonumber(i)
  if j < 0 then j = n + j end
  if j < 0 or j >= n then return nil end
  return j
end
`;

const l_get = `${LIST}
local err = gone(KEYS[1]) if err then return err end
local n = redis.call('LLEN', KEYS[2])
local j = at(ARGV[1], n)
if not j then return index_error(ARGV[1], n) end
return redis.call('LINDEX', KEYS[2], j)
`;

const l_set = `${LIST}
local err = gone(KEYS[1]) if err then return err end
local n = redis.call('LLEN', KEYS[2])
local j = at(ARGV[1], n)
if not j then return index_error(ARGV[1], n) end
redis.call('LSET', KEYS[2], j, ARGV[2])
return 1
`;

// ARGV: 'R' (append) or 'L' (prepend, in the order given), items. Returns the new length.
const l_push = `${LIST}
local err = gone(KEYS[1]) if err then return err end
if #ARGV == 1 then return redis.call('LLEN', KEYS[2]) end
if ARGV[1] == 'R' then return redis.call('RPUSH', KEYS[2], unpack(ARGV, 2)) end
local n
for i = #ARGV, 2, -1 do n = redis.call('LPUSH', KEYS[2], ARGV[i]) end
return n
`;

// ARGV: index (python), or 'first' (shift: no error when empty). Returns the removed item (nil: empty, shift).
const l_pop = `${LIST}
local err = gone(KEYS[1]) if err then return err end
if ARGV[1] == 'first' then return redis.call('LPOP', KEYS[2]) end
local n = redis.call('LLEN', KEYS[2])
local j = at(ARGV[1], n)
if not j then return index_error(ARGV[1], n) end
if j == n - 1 then return redis.call('RPOP', KEYS[2]) end
if j == 0 then return redis.call('LPOP', KEYS[2]) end
local item = redis.call('LINDEX', KEYS[2], j)
redis.call('LSET', KEYS[2], j, '\\0multiproc-removed')
redis.call('LREM', KEYS[2], 1, '\\0multiproc-removed')
return item
`;

// ARGV: index (as Array.prototype.splice clamps it), item.
const l_insert = `${LIST}
local err = gone(KEYS[1]) if err then return err end
local n = redis.call('LLEN', KEYS[2])
local j = tonumber(ARGV[1])
if j < 0 then j = math.max(0, n + j) end
if j >= n then return redis.call('RPUSH', KEYS[2], ARGV[2]) end
if j == 0 then return redis.call('LPUSH', KEYS[2], ARGV[2]) end
local pivot = redis.call('LINDEX', KEYS[2], j)
redis.call('LSET', KEYS[2], j, '\\0multiproc-pivot')
redis.call('LINSERT', KEYS[2], 'BEFORE', '\\0multiproc-pivot', ARGV[2])
redis.call('LSET', KEYS[2], j + 1, pivot)
return n + 1
`;

// ARGV: start, end (Array.prototype.slice's, '' for none).
const l_slice = `${LIST}
local err = gone(KEYS[1]) if err then return err end
local n = redis.call('LLEN', KEYS[2])
local function clamp(v, default)
  if v == '' then return default end
  local x = tonumber(v)
  if x < 0 then return math.max(0, n + x) end
  return math.min(x, n)
end
local s, e = clamp(ARGV[1], 0), clamp(ARGV[2], n)
if e <= s then return {} end
return redis.call('LRANGE', KEYS[2], s, e - 1)
`;

const l_len = `${LIST}
local err = gone(KEYS[1]) if err then return err end
return redis.call('LLEN', KEYS[2])
`;

const l_clear = `${LIST}
local err = gone(KEYS[1]) if err then return err end
redis.call('DEL', KEYS[2])
return 1
`;

/** Value: KEYS = meta (hash: typecode, value). */
const v_get = `${COMMON}
local err = gone(KEYS[1]) if err then return err end
return redis.call('HGET', KEYS[1], ARGV[1])
`;

const v_set = `${COMMON}
local err = gone(KEYS[1]) if err then return err end
redis.call('HSET', KEYS[1], 'value', ARGV[1])
return 1
`;

const LUA = {
  sem_acquire, sem_release, sem_value, sem_renew, ev_set, ev_clear, ev_isset, q_put, q_take, q_ack, q_took, q_done,
  q_renew, q_state, d_set, d_has, d_pop, d_setdefault, d_popitem, d_clear, d_entries, l_get, l_set,
  l_push, l_pop, l_insert, l_slice, l_len, l_clear, v_get, v_set,
};

const KEY_COUNTS: Record<keyof typeof LUA, number> = {
  sem_acquire: 2, sem_release: 2, sem_value: 2, sem_renew: 2, ev_set: 2, ev_clear: 2, ev_isset: 2,
  q_put: 6, q_take: 6, q_ack: 6, q_took: 6, q_done: 6, q_renew: 6, q_state: 6,
  d_set: 3, d_has: 3, d_pop: 3, d_setdefault: 3, d_popitem: 3, d_clear: 3, d_entries: 3,
  l_get: 2, l_set: 2, l_push: 2, l_pop: 2, l_insert: 2, l_slice: 2, l_len: 2, l_clear: 2, v_get: 1, v_set: 1,
};

/** Every script, as ioredis's defineCommand takes them (EVALSHA, and EVAL again after a restart flushed them). */
export const SCRIPTS = Object.fromEntries(Object.entries(LUA).map(([name, lua]) =>
  [name, { numberOfKeys: KEY_COUNTS[name as keyof typeof LUA], lua }])) as Record<keyof typeof LUA, { numberOfKeys: number; lua: string }>;
