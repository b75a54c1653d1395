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
 * Semaphores: KEYS = sem (hash: avail, bound (-1: none), fence, died), holders (zset member -> lease end), wake (list).
 * Each script reads the hash once and writes it at most once: a command inside a script costs about a microsecond,
 * and the uncontended acquire + release pair is what every lock user pays (docs/redis.md, Benchmarks).
 */
const SEMAPHORE = `${COMMON}
-- The hash, or nil when the object was removed.
local function load()
  local v = redis.call('HMGET', KEYS[1], 'avail', 'bound', 'fence', 'died')
  if not v[1] then return nil end
  return {avail = tonumber(v[1]), bound = tonumber(v[2]), fence = tonumber(v[3]), died = tonumber(v[4])}
end
local function save(s)
  redis.call('HSET', KEYS[1], 'avail', s.avail, 'fence', s.fence, 'died', s.died)
end
-- Leases that ended go back: each is a unit whose holder died (or stopped renewing), told to the next acquirers.
-- Returns how many; the caller saves the hash.
local function reap(s, now)
  local n = redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  s.avail = s.avail + n
  s.died = s.died + n
  return n
end
`;

// ARGV: member, lease ms. Returns {1, fencing token, owner died (1/0)} or {0, ms until the earliest lease ends (-1: none)}.
const sem_acquire = `${SEMAPHORE}
local s = load() if not s then return gone_error() end
local now = now_ms()
reap(s, now)
if s.avail > 0 then
  s.avail = s.avail - 1
  s.fence = s.fence + 1
  local died = 0
  if s.died > 0 then
    s.died = s.died - 1
    died = 1
  end
  save(s)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
  sync_tokens(KEYS[3], s.avail)
  return {1, s.fence, died}
end
-- (nothing was reaped: a reaped unit would be free)
redis.call('DEL', KEYS[3])
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #first == 0 then return {0, -1} end
return {0, tonumber(first[2]) - now}
`;

// ARGV: own count k, k own lease members, foreign units, recursive flag.
const sem_release = `${SEMAPHORE}
local s = load() if not s then return gone_error() end
local reaped = reap(s, now_ms())
local k = tonumber(ARGV[1])
local foreign = tonumber(ARGV[k + 2])
local function refuse(reply)
  if reaped > 0 then save(s) end
  return reply
end
local lost = 'MPLOST this process no longer holds it: its lease ended (the process was paused or ' ..
  'cut off longer than the lease) or another process released it'
if foreign == 0 and k == 1 then
  -- The common release: its one unit was verified held by removing it, and giving back held units never
  -- exceeds a bound.
  if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return refuse(redis.error_reply(lost)) end
else
  for i = 2, k + 1 do
    if not redis.call('ZSCORE', KEYS[2], ARGV[i]) then return refuse(redis.error_reply(lost)) end
  end
  local held = redis.call('ZCARD', KEYS[2]) - k
  -- An RLock this process does not hold (held by another, or by nobody): as a Manager's or a local RLock says.
  if foreign > 0 and ARGV[k + 3] == '1' then
    return refuse(redis.error_reply('MPASSERT attempt to release recursive lock not owned by process'))
  end
  local drop = math.min(foreign, held)
  if s.bound >= 0 and s.avail + k + foreign + held - drop > s.bound then
    return refuse(redis.error_reply('MPVALUE ERR_MP_VALUE semaphore or lock released too many times'))
  end
  for i = 2, k + 1 do redis.call('ZREM', KEYS[2], ARGV[i]) end
  if drop > 0 then redis.call('ZPOPMIN', KEYS[2], drop) end
end
s.avail = s.avail + k + foreign
save(s)
sync_tokens(KEYS[3], s.avail)
return 1
`;

const sem_value = `${SEMAPHORE}
local s = load() if not s then return gone_error() end
if reap(s, now_ms()) > 0 then save(s) end
if s.avail > 0 then sync_tokens(KEYS[3], s.avail) end
return s.avail
`;

// ARGV: lease ms, members. Returns the members whose lease had already ended (they are lost).
const sem_renew = `${SEMAPHORE}
local s = load() if not s then return gone_error() end
local now = now_ms()
if reap(s, now) > 0 then save(s) end
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) then redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[1]), ARGV[i])
  else lost[#lost + 1] = ARGV[i] end
end
if s.avail > 0 then sync_tokens(KEYS[3], s.avail) end
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
  sem_acquire: 3, sem_release: 3, sem_value: 3, sem_renew: 3, ev_set: 2, ev_clear: 2, ev_isset: 2,
  q_put: 6, q_take: 6, q_ack: 6, q_took: 6, q_done: 6, q_renew: 6, q_state: 6,
  d_set: 3, d_has: 3, d_pop: 3, d_setdefault: 3, d_popitem: 3, d_clear: 3, d_entries: 3,
  l_get: 2, l_set: 2, l_push: 2, l_pop: 2, l_insert: 2, l_slice: 2, l_len: 2, l_clear: 2, v_get: 1, v_set: 1,
};

/** Every script, as ioredis's defineCommand takes them (EVALSHA, and EVAL again after a restart flushed them). */
export const SCRIPTS = Object.fromEntries(Object.entries(LUA).map(([name, lua]) =>
  [name, { numberOfKeys: KEY_COUNTS[name as keyof typeof LUA], lua }])) as Record<keyof typeof LUA, { numberOfKeys: number; lua: string }>;
