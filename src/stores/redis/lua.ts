import { USER_TAG_LENGTH } from "../../core/token.js";
import { HASH_FIELDS as F, FLASH_FIELD_PREFIX, RESERVED_FIELD_PREFIX } from "./session-hash.js";

/**
 * The store's Lua scripts. Hash field names come from `HASH_FIELDS` (session-hash.ts), interpolated
 * below as `${F.expiresAt}` and so on: the encoding has one table. Each one exists because its steps must happen atomically on the server, and
 * each stays in ONE hash slot: on a Cluster a script may not reach keys in two. A user's sessions, index
 * and revocation marker all carry the user's slot tag (`{tag}` in their keys, see keys.ts), so the
 * scripts that must change a session and its index together can: they reach the session keys named in
 * the index, and the index named by a session's `$u`, in the slot of their first key. Records and
 * counters are one key each.
 *
 * Conventions, for the reader who would trip on them:
 * - Times come from the caller as ARGV strings (`now` in ms since the epoch); scripts never call TIME,
 *   so every backend applies the same clock.
 * - A Lua number turned back into a string uses "%.14g", which is exact for ms timestamps today but
 *   not obviously so: a number bound for Redis goes through `string.format('%d', x)`; a time written
 *   into a hash is the caller's own ARGV string.
 * - `redis.error_reply('LATCHKEY_INVALID ...')` reports a bad argument (a field that holds no integer).
 *   It is returned before the first write: Redis does not roll back a script that fails half-way.
 * - `false` is Lua's nil reply: the session does not exist (or no longer does).
 *
 * Keys a script derives. Redis wants every key a script touches in KEYS, and a Cluster refuses a key
 * of another slot than the declared ones'. Some keys are known only inside the script, from what it
 * reads: the user's index (from a session's `$u`: the index prefix the caller passes carries the
 * session's slot tag), the sessions named in an index (the session prefix of the index's tag, then the
 * id without its tag), and a forward's successor (`successorKey`: the declared key with its id part
 * replaced, its text up to and including `{tag}` kept). Each keeps the declared key's `{tag}`, so it
 * hashes to the declared key's slot whatever the data holds (proved on a Cluster: redis-cluster.test.ts,
 * and for the successor redis-renewal.test.ts).
 *
 * A forward (rotate with a forward: a token renewed less than its grace period ago) is the old
 * session's key turned into a small hash of `$s` (the successor's storage id) and `$x` (its sealed
 * token), with no `$e`, expiring after the grace period. It is in no index. load and rotate reply with
 * it as `{'$s', successor, '$x', sealed}` (in that order); update, destroy and take follow it to its
 * successor, one hop at most.
 */

/** Prefix of error replies that mean "bad argument" rather than "store unavailable". */
export const INVALID_ARGUMENT_REPLY = "LATCHKEY_INVALID ";
/** Prefix of the error reply of a create that lost a race with its user's revocation. */
export const REVOKED_REPLY = "LATCHKEY_REVOKED ";

/**
 * Shared Lua: the idle deadline as a TTL from `now`: the session's idle timeout, never past its absolute
 * expiry. The twin of `idleDeadlineOf` (session-store.ts), the one TypeScript formula.
 */
const IDLE_TTL = `
local function idleTTL(now, idle, expiresAt)
  return string.format('%d', math.min(idle, expiresAt - now))
end
`;

/**
 * Shared Lua: `text` (a field's stored value, '0' when absent) plus `by`, or nil and the error reply.
 * Values must be integers written as Redis writes them and stay within JavaScript's safe integers,
 * like the memory store's. Every sum of a call is checked before its first write.
 */
const CHECKED_SUM = `
local MAX_SAFE = 9007199254740991
local function checkedSum(field, text, by)
  local current = tonumber(text)
  if not (text == '0' or string.match(text, '^%-?[1-9]%d*$')) or not current or math.abs(current) > MAX_SAFE then
    return nil, redis.error_reply('${INVALID_ARGUMENT_REPLY}field "' .. field .. '" holds "' .. string.sub(text, 1, 40) .. '", not an integer')
  end
  local sum = current + tonumber(by)
  if math.abs(sum) > MAX_SAFE then
    return nil, redis.error_reply('${INVALID_ARGUMENT_REPLY}incrementing "' .. field .. '" by ' .. by .. ' would leave the safe integer range')
  end
  return sum
end
`;

/**
 * Shared Lua: the session at KEYS[1] if it is alive at `now`, else false. A session past its absolute
 * expiry `$e` is deleted on the spot (its TTL would have removed it by then anyway, unless clocks
 * differ), exactly as a load that finds it would.
 */
const LIVE = `
local function live(key, now)
  local expiresAt = tonumber(redis.call('HGET', key, '${F.expiresAt}'))
  if not expiresAt then return false end
  if now >= expiresAt then
    redis.call('DEL', key)
    return false
  end
  return expiresAt
end
`;

/**
 * Shared Lua: whether `a` < `b` for two times in ms since the epoch written as decimal strings (no sign,
 * no leading zero), without `tonumber`: a string of fewer digits is the smaller number, and strings of
 * as many digits compare as numbers do. On the page-view path this replaces half a dozen string to number
 * conversions (libc's strtod, about 1,700 instructions each in Redis).
 */
const EARLIER = `
local function earlier(a, b)
  return #a < #b or (#a == #b and a < b)
end
`;

/**
 * Shared Lua: the forward in a hash's HGETALL form, as the reply `{'$s', successor, '$x', sealed}`, or
 * nil when it is none. Called only for a hash without `$e` (or on paths that are not page views).
 */
const FORWARD_OF = `
local function forwardOf(flat)
  local to, sealed
  for i = 1, #flat, 2 do
    if flat[i] == '${F.forwardedTo}' then to = flat[i + 1]
    elseif flat[i] == '${F.forwardSealedToken}' then sealed = flat[i + 1] end
  end
  if to and sealed then return {'${F.forwardedTo}', to, '${F.forwardSealedToken}', sealed} end
end
`;

/**
 * Shared Lua: the key of a forward's successor, from the forward's key: a session key ends with its id
 * without the slot tag (keys.ts), every storage id has the same length, and a successor has its
 * forward's tag (rotate checks it); so the key up to and including `{tag}` is kept, and with it the
 * slot (see "Keys a script derives").
 */
const SUCCESSOR_KEY = `
local function successorKey(key, successor)
  return string.sub(key, 1, #key - #successor + ${USER_TAG_LENGTH}) .. string.sub(successor, ${USER_TAG_LENGTH + 1})
end
`;

/**
 * load = ONE round trip. Reads the session, deletes it when past `$e`, refreshes the idle timer when the
 * last refresh is at least `touchIntervalMs` old (`$t` = now, TTL = min(idle, $e - now)), applies the
 * increments, and returns the whole hash as it now is. Increments are all checked before anything is
 * written, so a load that fails changes nothing.
 *
 * It is the hot path (every page view), and Redis runs it for every app server at once, so it does as
 * little Lua as it can (measured in Redis instructions per call, see docs/benchmark.md):
 * - it reads the hash ONCE with HGETALL and patches the returned array in place for the fields it
 *   writes, instead of HGETs before and a second HGETALL after: a view costs Redis HGETALL + ZRANK +
 *   PEXPIRE + HSET (+ one HINCRBY per counter), and HGETALL + ZRANK when throttled;
 * - one pass over that array finds the meta fields it needs and the counters' slots, with string
 *   comparisons (Lua strings are interned, so each is a pointer compare) rather than by building a table
 *   of every field;
 * - times stay strings: the caller passes `now`, `now + idle` and `now - touchInterval` ready made, and
 *   the script compares them with the hash's as decimal strings (`earlier`); a number is parsed only for
 *   a session with its own idle timeout or within one idle timeout of its absolute expiry;
 * - a counter's stored value is checked by its digits (at most 15, so no sum can leave JavaScript's safe
 *   integers); only a longer one goes through `checkedSum`;
 * - the index check is ZRANK, whose integer reply Redis writes cheaply, where ZSCORE's score is a double
 *   formatted with snprintf;
 * - the reply is that same array as ONE JSON string (cjson): no reply table is built in Lua, and the
 *   client parses one bulk string with the native JSON.parse instead of a dozen through the RESP parser.
 *
 * A session must be in its user's index (reached from `$u`, in the same slot): one that is not (its
 * index was evicted, or lost in a failover while the hash survived) could not be revoked, so it is
 * deleted and reported as gone. One ZRANK per view buys "no session outlives the index that revokes
 * it". An empty indexKeyPrefix (a store without a per-user index) skips the check, and so does an
 * anonymous session (no `$u`: it has no index). A session with its own idle timeout (`$l`: anonymous,
 * "remember me") is refreshed by that one. With takeFlash = '1' the flash fields (`$f:<name>`) are
 * deleted in the same step and stay in the reply: exactly one such load gets each message.
 * At a forward (no `$e`, see the top of this file) it replies with the forward and changes nothing: no
 * increment, no touch, no flash taken. That check runs only when `$e` is missing, off a view's path.
 * ARGV: now, idleTimeoutMs, now + idleTimeoutMs, now - touchIntervalMs (-1 when that is before the
 * epoch), indexKeyPrefix, id, takeFlash, [field, by]... (times as decimal strings of ms since the epoch).
 * Reply: false, 1 when the session was found past `$e` (and deleted: its TTL had not removed it yet,
 * as when the caller's clock runs ahead of Redis's), JSON `[field, value, field, value, ...]` (the
 * HGETALL form, meta fields included), or at a forward an array `[$s, successor, $x, sealed]` (the one
 * reply that is an array, so that a session's costs no extra check).
 */
export const LOAD_SESSION = `${CHECKED_SUM}${IDLE_TTL}${EARLIER}${FORWARD_OF}
local key = KEYS[1]
local flat = redis.call('HGETALL', key)
local nargs = #ARGV
-- Value positions in flat: of the expiry, last refresh, user and own idle timeout fields, and of each
-- counter (false until found).
local atE, atT, atU, atL
local at = {}
for i = 8, nargs, 2 do at[ARGV[i]] = false end
for i = 1, #flat, 2 do
  local name = flat[i]
  if name == '${F.expiresAt}' then atE = i + 1
  elseif name == '${F.lastSeenAt}' then atT = i + 1
  elseif name == '${F.userId}' then atU = i + 1
  elseif name == '${F.idleTimeout}' then atL = i + 1
  elseif at[name] == false then at[name] = i + 1 end
end
if not atE then return forwardOf(flat) or false end
local now, expiresAt = ARGV[1], flat[atE]
if not earlier(now, expiresAt) then
  redis.call('DEL', key)
  return 1
end
-- The index is derived from the session's user (see "Keys a script derives"): same slot as KEYS[1].
if ARGV[5] ~= '' and atU and not redis.call('ZRANK', ARGV[5] .. flat[atU], ARGV[6]) then
  redis.call('DEL', key)
  return false
end
for i = 8, nargs, 2 do
  local field, by = ARGV[i], ARGV[i + 1]
  local text = at[field] and flat[at[field]] or '0'
  if not (#text <= 15 and #by <= 15 and (text == '0' or string.find(text, '^%-?[1-9]%d*$'))) then
    local sum, problem = checkedSum(field, text, by)
    if not sum then return problem end
  end
end
if not (atT and (ARGV[4] == '-1' or earlier(ARGV[4], flat[atT]))) then
  -- The TTL is the caller's idle timeout as it came, unless the session has its own or its absolute
  -- expiry comes first: then idleTTL's min(idle, $e - now), on numbers.
  local ttl = ARGV[2]
  if atL or not earlier(ARGV[3], expiresAt) then
    ttl = idleTTL(tonumber(now), tonumber(atL and flat[atL] or ARGV[2]), tonumber(expiresAt))
  end
  -- PEXPIRE first: Redis refuses a script's first write on a full server (OOM) only if that command
  -- can grow memory (HSET can, PEXPIRE cannot), and lets a script that has written finish. So a view
  -- still works on a full Redis, where a new session (whose first write is HSET) is refused.
  redis.call('PEXPIRE', key, ttl)
  redis.call('HSET', key, '${F.lastSeenAt}', now)
  if atT then flat[atT] = now end
end
if ARGV[7] == '1' then
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, ${FLASH_FIELD_PREFIX.length}) == '${FLASH_FIELD_PREFIX}' then redis.call('HDEL', key, flat[i]) end
  end
end
for i = 8, nargs, 2 do
  local field = ARGV[i]
  local value = string.format('%d', redis.call('HINCRBY', key, field, ARGV[i + 1]))
  local pos = at[field]
  if pos then
    flat[pos] = value
  else
    flat[#flat + 1] = field
    flat[#flat + 1] = value
    at[field] = #flat
  end
end
return cjson.encode(flat)
`;

/**
 * Shared Lua: keeps a user's index alive until its latest session's absolute expiry `untilMs`: its TTL
 * only ever grows, so that two concurrent logins cannot leave it shorter than one of their sessions.
 */
const EXTEND_INDEX = `
local function extendIndex(index, now, untilMs)
  local pttl = redis.call('PTTL', index)
  if pttl > 0 and now + pttl > untilMs then return end
  redis.call('PEXPIREAT', index, string.format('%d', untilMs))
end
`;

/**
 * Creates a session: checks the user's revocation marker, writes the hash with its TTL, adds it to the
 * user's index and ends the user's oldest sessions beyond the cap, in ONE step, so that no hash is ever
 * left without a TTL or without its index entry, and "log out everywhere" can never fall between two
 * writes. The index (KEYS[2]) and the marker (KEYS[3]) carry the user's slot tag, as the session key
 * does: on a Cluster they share its slot. Without them (a store with `userIndex: false`) only the hash
 * is written. A TTL under 1 ms would store nothing: that is an error, never a silent success.
 * ARGV: now, ttlMs, maxPerUser, sessionKeyPrefix, id, createdAt, expiresAt, [field, value]...
 * Reply: the number of the user's older sessions ended to make room.
 */
export const CREATE_SESSION = `${EXTEND_INDEX}
local key = KEYS[1]
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
if not ttl or ttl < 1 then
  return redis.error_reply('${INVALID_ARGUMENT_REPLY}the session would expire at once (TTL ' .. ARGV[2] .. ' ms): nothing was written')
end
if #KEYS >= 3 then
  local revokedAt = tonumber(redis.call('GET', KEYS[3]))
  if revokedAt and tonumber(ARGV[6]) <= revokedAt then
    return redis.error_reply('${REVOKED_REPLY}sessions of this user were revoked while this one was being created')
  end
end
-- A fresh id is 132 random bits: one that exists is a caller's bug. Not deleting it keeps HSET the
-- first write, which Redis refuses on a full server (OOM); after a first write it no longer would.
if redis.call('EXISTS', key) == 1 then
  return redis.error_reply('${INVALID_ARGUMENT_REPLY}a session with this id already exists: nothing was written')
end
for i = 8, #ARGV, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', key, ARGV[2])
if #KEYS < 2 then return 0 end
local index, prefix, id = KEYS[2], ARGV[4], ARGV[5]
redis.call('ZADD', index, ARGV[6], id)
local cap = tonumber(ARGV[3])
local ended = 0
if redis.call('ZCARD', index) > cap then
  -- Entries of sessions that idled out first: they hold no room.
  for _, member in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    if redis.call('EXISTS', prefix .. string.sub(member, 3)) == 0 then redis.call('ZREM', index, member) end
  end
  while redis.call('ZCARD', index) > cap do
    local oldest = redis.call('ZRANGE', index, 0, 1)
    local victim = oldest[1] == id and oldest[2] or oldest[1]
    redis.call('DEL', prefix .. string.sub(victim, 3))
    redis.call('ZREM', index, victim)
    ended = ended + 1
  end
end
extendIndex(index, now, tonumber(ARGV[7]))
return ended
`;
/**
 * Changes a session's fields only if it is still alive: a slow request that finishes after a logout
 * must not bring the session back as a hash without meta fields or TTL. Sets, removes, adds to integer
 * fields and queues flash messages (`$f:<name>`) in one step. With a byte budget (maxBytes not ''),
 * the session's own fields and its flash messages (names + values, in bytes; a message's name without
 * its prefix, as the memory store counts it) must stay within it after the change; that and every sum
 * are checked before anything is written. HSET/HDEL/HINCRBY keep
 * the TTL, so an update never extends the session. At a forward, the change goes to its successor when
 * that is alive (a write with a token renewed a moment ago is not lost); the forward stays.
 * ARGV: now, maxBytes ('' for no check), setCount, removeCount, [field, value] x setCount,
 *       field x removeCount, [field, by]...
 * Reply: false, or the new values of the incremented fields, in order.
 */
export const UPDATE_SESSION = `${LIVE}${CHECKED_SUM}${SUCCESSOR_KEY}
local key = KEYS[1]
local now = tonumber(ARGV[1])
if not live(key, now) then
  -- A forward? Its successor, one hop; a forward has no '$e', so live() left it as it was.
  local to = redis.call('HGET', key, '${F.forwardedTo}')
  if not to then return false end
  key = successorKey(key, to)
  if not live(key, now) then return false end
end
local firstRemove = 5 + 2 * tonumber(ARGV[3])
local firstIncrement = firstRemove + tonumber(ARGV[4])
if ARGV[2] ~= '' then
  local sizes = {}
  -- Bytes a field counts: a user field's name and value, a flash message's name (without its prefix)
  -- and text, other reserved fields (the session's own metadata) nothing.
  local function counted(name, value)
    if string.sub(name, 1, ${FLASH_FIELD_PREFIX.length}) == '${FLASH_FIELD_PREFIX}' then return #name - ${FLASH_FIELD_PREFIX.length} + #value end
    if string.sub(name, 1, 1) == '${RESERVED_FIELD_PREFIX}' then return nil end
    return #name + #value
  end
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do sizes[flat[i]] = counted(flat[i], flat[i + 1]) end
  for i = 5, firstRemove - 1, 2 do sizes[ARGV[i]] = counted(ARGV[i], ARGV[i + 1]) end
  for i = firstRemove, firstIncrement - 1 do sizes[ARGV[i]] = nil end
  local total = 0
  for _, size in pairs(sizes) do total = total + size end
  if total > tonumber(ARGV[2]) then
    return redis.error_reply('${INVALID_ARGUMENT_REPLY}the session would hold ' .. total .. ' bytes of fields, over its limit of ' .. ARGV[2] .. ': nothing was written')
  end
end
for i = firstIncrement, #ARGV, 2 do
  local sum, problem = checkedSum(ARGV[i], redis.call('HGET', key, ARGV[i]) or '0', ARGV[i + 1])
  if not sum then return problem end
end
for i = 5, firstRemove - 1, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
for i = firstRemove, firstIncrement - 1 do
  redis.call('HDEL', key, ARGV[i])
end
local counted = {}
for i = firstIncrement, #ARGV, 2 do
  counted[#counted + 1] = redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1])
end
return counted
`;

/**
 * A rotation in ONE step: reads and deletes the old session, writes it under the new id (`$t` = now,
 * TTL = min(idle, $e - now)) and moves its index entry, so that two concurrent rotations cannot both
 * succeed, the old id stops working at once, and a concurrent "log out everywhere" finds either the old
 * session or the new one in the index, never neither. The new id has the old one's slot tag, so both
 * keys and the index (reached from `$u`, in the same slot) live together.
 * The new session's token was issued now: `$k` = now.
 * With a rewrite (the manager re-encrypting encrypted fields under the new token), each of its fields
 * must still hold the value the caller read ('' : absent), else nothing is written and the reply is
 * false; the new session then holds the rewritten values ('' : the field removed).
 * With a forward (sealedToken not ''), the old key becomes a forward to the new id instead of staying
 * deleted: `$s` = newId, `$x` = sealedToken, TTL graceMs. When the old key already is a forward (a
 * concurrent renewal won), nothing is written and the reply is that forward.
 * ARGV: now, idleTimeoutMs, oldId, newId, indexKeyPrefix ('' without a per-user index),
 *       sealedToken ('' without a forward), graceMs ('' without a forward),
 *       [field, expected, newValue]...
 * Reply: false, the new hash as HGETALL, or `[$s, successor, $x, sealed]` at a forward.
 */
export const ROTATE_SESSION = `${EXTEND_INDEX}${IDLE_TTL}${FORWARD_OF}
local old, new = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
local flat = redis.call('HGETALL', old)
local forward = forwardOf(flat)
if forward then return forward end
if #ARGV > 7 then
  local expected, rewritten = {}, {}
  for i = 8, #ARGV, 3 do expected[ARGV[i]] = ARGV[i + 1] end
  for i = 1, #flat, 2 do
    local name = flat[i]
    if expected[name] then
      if expected[name] ~= flat[i + 1] then return false end
      expected[name] = nil
    else
      rewritten[#rewritten + 1] = name
      rewritten[#rewritten + 1] = flat[i + 1]
    end
  end
  -- The fields left were absent: they must have been read so.
  for _, value in pairs(expected) do
    if value ~= '' then return false end
  end
  for i = 8, #ARGV, 3 do
    if ARGV[i + 2] ~= '' then
      rewritten[#rewritten + 1] = ARGV[i]
      rewritten[#rewritten + 1] = ARGV[i + 2]
    end
  end
  flat = rewritten
end
local expiresAt, userId, createdAt, atT, atK
local idle = tonumber(ARGV[2])
for i = 1, #flat, 2 do
  local name = flat[i]
  if name == '${F.expiresAt}' then expiresAt = tonumber(flat[i + 1])
  elseif name == '${F.userId}' then userId = flat[i + 1]
  elseif name == '${F.createdAt}' then createdAt = flat[i + 1]
  elseif name == '${F.idleTimeout}' then idle = tonumber(flat[i + 1])
  elseif name == '${F.lastSeenAt}' then atT = i + 1
  elseif name == '${F.tokenIssuedAt}' then atK = i + 1 end
end
if not expiresAt then return false end
-- DEL first: Redis refuses a script's first write on a full server (OOM) unless it is one that frees
-- memory, and lets a script that has written finish (the forward, below, is written after it).
redis.call('DEL', old)
if now >= expiresAt then return false end
-- Not in its index (evicted, lost in a failover): it could not be revoked, so it ends here too.
-- (An anonymous session, without '$u', has no index.)
if ARGV[5] ~= '' and userId and not redis.call('ZSCORE', ARGV[5] .. userId, ARGV[3]) then return false end
if atT then flat[atT] = ARGV[1] else flat[#flat + 1] = '${F.lastSeenAt}'; flat[#flat + 1] = ARGV[1] end
if atK then flat[atK] = ARGV[1] else flat[#flat + 1] = '${F.tokenIssuedAt}'; flat[#flat + 1] = ARGV[1] end
redis.call('DEL', new)
for i = 1, #flat, 2 do
  redis.call('HSET', new, flat[i], flat[i + 1])
end
redis.call('PEXPIRE', new, idleTTL(now, idle, expiresAt))
if ARGV[5] ~= '' and userId then
  local index = ARGV[5] .. userId
  redis.call('ZREM', index, ARGV[3])
  redis.call('ZADD', index, createdAt or ARGV[1], ARGV[4])
  extendIndex(index, now, expiresAt)
end
if ARGV[6] ~= '' then
  redis.call('HSET', old, '${F.forwardedTo}', ARGV[4], '${F.forwardSealedToken}', ARGV[6])
  redis.call('PEXPIRE', old, ARGV[7])
end
return flat
`;

/**
 * Deletes a session and its entry in its user's index (reached from `$u`: it has the session's slot
 * tag), in one step. Returns 1 when the session was alive, 0 when it was missing or already past `$e`
 * (deleted all the same). At a forward, deletes it and its successor (one hop), and replies for the
 * successor: a logout with a token renewed a moment ago still logs out.
 * ARGV: now, id, indexKeyPrefix ('' without a per-user index)
 */
export const DESTROY_SESSION = `${SUCCESSOR_KEY}
local key, id = KEYS[1], ARGV[2]
local meta = redis.call('HMGET', key, '${F.userId}', '${F.expiresAt}', '${F.forwardedTo}')
if meta[3] and not meta[2] then
  redis.call('DEL', key)
  id = meta[3]
  key = successorKey(key, id)
  meta = redis.call('HMGET', key, '${F.userId}', '${F.expiresAt}')
  -- Gone, or itself a forward (never followed twice): no session.
  if not meta[2] then return 0 end
end
if redis.call('DEL', key) == 0 then return 0 end
if ARGV[3] ~= '' and meta[1] then redis.call('ZREM', ARGV[3] .. meta[1], id) end
local expiresAt = tonumber(meta[2])
return (expiresAt and tonumber(ARGV[1]) < expiresAt) and 1 or 0
`;

/**
 * Reads and deletes a live session in one step (promotion at login takes the anonymous session, then
 * creates the user's, in the user's slot), with its index entry when it has a user. Of concurrent
 * takes one gets the session. At a forward, takes its successor (one hop) and deletes the forward.
 * ARGV: now, id, indexKeyPrefix ('' without a per-user index)
 * Reply: false, HGETALL, or through a forward `[$s, successor, ...HGETALL]` (the id it was taken at).
 */
export const TAKE_SESSION = `${SUCCESSOR_KEY}
local function metaOf(flat)
  local expiresAt, userId, to
  for i = 1, #flat, 2 do
    local name = flat[i]
    if name == '${F.expiresAt}' then expiresAt = tonumber(flat[i + 1])
    elseif name == '${F.userId}' then userId = flat[i + 1]
    elseif name == '${F.forwardedTo}' then to = flat[i + 1] end
  end
  return expiresAt, userId, to
end
local key, id = KEYS[1], ARGV[2]
local flat = redis.call('HGETALL', key)
if #flat == 0 then return false end
local expiresAt, userId, to = metaOf(flat)
local followed = false
if not expiresAt and to then
  redis.call('DEL', key)
  id, key, followed = to, successorKey(key, to), true
  flat = redis.call('HGETALL', key)
  expiresAt, userId = metaOf(flat)
  -- Gone, or itself a forward (never followed twice): no session.
  if not expiresAt then return false end
end
redis.call('DEL', key)
if ARGV[3] ~= '' and userId then redis.call('ZREM', ARGV[3] .. userId, id) end
if not expiresAt or tonumber(ARGV[1]) >= expiresAt then return false end
if followed then
  table.insert(flat, 1, id)
  table.insert(flat, 1, '${F.forwardedTo}')
end
return flat
`;

/**
 * Shared Lua: the user's index entries as `{id, key}` pairs, oldest first. The session keys are
 * rebuilt from the ids: every one has the user's slot tag (the first two characters of the id), as the
 * index does, so the script reaches them in its own slot.
 */
const INDEX_ENTRIES = `
local function entries(index, prefix)
  local found = {}
  for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    found[#found + 1] = {id, prefix .. string.sub(id, 3)}
  end
  return found
end
`;

/**
 * The user's live sessions in ONE step (not one command per session): each as [id, HGETALL...].
 * Entries whose session is gone (idled out, ended) are pruned; a session past `$e` is deleted.
 * ARGV: now, sessionKeyPrefix
 * Reply: JSON `[[id, field, value, ...], ...]`.
 */
export const LIST_FOR_USER = `${INDEX_ENTRIES}
local index = KEYS[1]
local now = tonumber(ARGV[1])
local live = {}
for _, entry in ipairs(entries(index, ARGV[2])) do
  local flat = redis.call('HGETALL', entry[2])
  local expiresAt
  for i = 1, #flat, 2 do
    if flat[i] == '${F.expiresAt}' then expiresAt = tonumber(flat[i + 1]) end
  end
  if expiresAt and now < expiresAt then
    table.insert(flat, 1, entry[1])
    live[#live + 1] = flat
  else
    redis.call('DEL', entry[2])
    redis.call('ZREM', index, entry[1])
  end
end
if #live == 0 then return '[]' end
return cjson.encode(live)
`;

/**
 * Ends the user's session whose public id (the 16 characters after the slot tag) is ARGV[3], in one
 * step with its index entry. Returns 1 when a live session ended, else 0.
 * ARGV: now, sessionKeyPrefix, publicId
 */
export const DESTROY_BY_ID = `${INDEX_ENTRIES}
local index = KEYS[1]
for _, entry in ipairs(entries(index, ARGV[2])) do
  if string.sub(entry[1], 3, 2 + #ARGV[3]) == ARGV[3] then
    local expiresAt = tonumber(redis.call('HGET', entry[2], '${F.expiresAt}'))
    local existed = redis.call('DEL', entry[2])
    redis.call('ZREM', index, entry[1])
    return (existed == 1 and expiresAt and tonumber(ARGV[1]) < expiresAt) and 1 or 0
  end
end
return 0
`;

/**
 * "Log out everywhere" in ONE step, on a full Redis too: records the revocation time (KEYS[2], kept
 * REVOCATION_MEMORY_MS; a create that began at or before it is refused) and deletes every session in
 * the user's index but `exceptId`. A create or rotation runs wholly before or wholly after it: none
 * can slip between.
 * ARGV: now, sessionKeyPrefix, exceptId ('' for none), revocationMemoryMs
 * Reply: the number of live sessions ended.
 */
export const DESTROY_FOR_USER = `${INDEX_ENTRIES}
local index, marker = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
local previous = redis.call('GET', marker)
-- DEL first: Redis refuses a script's first write on a full server (OOM) unless it is one that frees
-- memory, and lets a script that has written finish. Revocation must work on a full Redis.
redis.call('DEL', marker)
local latest = math.max(tonumber(previous) or now, now)
redis.call('SET', marker, string.format('%d', latest), 'PX', ARGV[4])
local ended = 0
for _, entry in ipairs(entries(index, ARGV[2])) do
  if entry[1] ~= ARGV[3] then
    local expiresAt = tonumber(redis.call('HGET', entry[2], '${F.expiresAt}'))
    if redis.call('DEL', entry[2]) == 1 and expiresAt and now < expiresAt then ended = ended + 1 end
    redis.call('ZREM', index, entry[1])
  end
end
return ended
`;

/**
 * Creates a record only if the key is free (HSETNX works on one field, a record has several), with a
 * TTL when one is given, in the same step (a record meant to expire never outlives a crash).
 * Returns 1 when created, 0 when the key exists.
 * ARGV: ttlMs (0: none), [field, value]...
 */
export const INSERT_RECORD = `
local key = KEYS[1]
if redis.call('EXISTS', key) == 1 then return 0 end
for i = 2, #ARGV, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
local ttl = tonumber(ARGV[1])
if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
return 1
`;

/**
 * Sets fields of an existing record only if each expected field holds its value (compare-and-set), in
 * one step: a check and a write apart could let two password changes both win. HSET keeps the TTL.
 * Returns 1 when written, 0 when the record is missing or a field differs.
 * ARGV: expectCount, [field, value] x expectCount, [field, value]...
 */
export const UPDATE_RECORD = `
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
local firstSet = 2 + 2 * tonumber(ARGV[1])
for i = 2, firstSet - 1, 2 do
  if redis.call('HGET', key, ARGV[i]) ~= ARGV[i + 1] then return 0 end
end
for i = firstSet, #ARGV, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
return 1
`;

/**
 * The health check's write (redis-health.ts): one hit on a short-lived counter, INCR then its TTL when
 * it has none, in one step so that no counter is ever left without a TTL. Its first write is INCR, which
 * Redis refuses on a full server (OOM), as it would a new session. Returns the count.
 * ARGV: ttlMs
 */
export const HEALTH_WRITE = `
local key = KEYS[1]
local count = redis.call('INCR', key)
if redis.call('PTTL', key) == -1 then
  redis.call('PEXPIRE', key, ARGV[1])
end
return count
`;

/** The Lua source of every script, by name. */
export const SCRIPT_SOURCES = {
  load: LOAD_SESSION,
  create: CREATE_SESSION,
  update: UPDATE_SESSION,
  rotate: ROTATE_SESSION,
  take: TAKE_SESSION,
  destroy: DESTROY_SESSION,
  listForUser: LIST_FOR_USER,
  destroyById: DESTROY_BY_ID,
  destroyForUser: DESTROY_FOR_USER,
  insertRecord: INSERT_RECORD,
  updateRecord: UPDATE_RECORD,
  healthWrite: HEALTH_WRITE,
} as const;

/** The name of a store script, as the drivers know it. */
export type ScriptName = keyof typeof SCRIPT_SOURCES;

/** An ARGV value: numbers are sent as their decimal string. */
export type ScriptArgument = string | number;

/**
 * How many KEYS each script takes, where it is always the same (ioredis then sends them with a fixed
 * key count); `create` takes 1 or 3 (without or with the user index), sent with its count.
 */
export const SCRIPT_KEY_COUNTS: Readonly<Partial<Record<ScriptName, number>>> = {
  load: 1,
  update: 1,
  rotate: 2,
  take: 1,
  destroy: 1,
  listForUser: 1,
  destroyById: 1,
  destroyForUser: 2,
  insertRecord: 1,
  updateRecord: 1,
  healthWrite: 1,
};
