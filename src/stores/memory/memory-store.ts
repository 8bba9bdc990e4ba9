import {
  InvalidArgumentError,
  InvalidOptionError,
  SessionRevokedError,
  StoreUnavailableError,
} from "../../core/errors.js";
import { REVOCATION_MEMORY_MS, type SessionStore, type StoredSession } from "../../core/session-store.js";
import { publicIdOf } from "../../core/token.js";
import { createMemoryRecords } from "./memory-records.js";

export interface MemoryStoreOptions {
  /**
   * Most sessions kept at once. Default 100_000. When a new session would exceed it, expired sessions
   * are swept first (a full scan, so at most once per maxSessions/16 new sessions); if the store is
   * still full, the least recently refreshed session is evicted (with one idle timeout for every
   * session, the one nearest to its idle deadline). The bound counts sessions, not bytes.
   */
  maxSessions?: number;
  /**
   * Most anonymous sessions (before login) kept at once, apart from `maxSessions`. Default 100_000.
   * When full, the least recently refreshed anonymous session is evicted, never a logged-in one: a flood
   * of anonymous writes can push out only other anonymous sessions.
   */
  maxAnonymousSessions?: number;
  /**
   * Most records kept at once. Default 100_000. Records are never evicted, since they hold data such as
   * accounts: when full, a new one is refused with STORE_FULL.
   */
  maxRecords?: number;
  /**
   * Most hit counters (`records.hit`) kept at once, apart from the records. Default 100_000. A counter
   * whose window is still running is never evicted (it may hold a lockout); when full, expired counters
   * are swept, and if none had expired a hit on a new key is refused with STORE_FULL, so a throttle
   * built on the store fails closed.
   */
  maxCounters?: number;
  /**
   * Milliseconds between background sweeps that free expired sessions and counters nobody asks for
   * again. Default 60_000; 0 turns the sweep off (expiry is always checked on access anyway). The timer
   * is `unref()`ed, so it never keeps the process alive, and `close()` clears it.
   */
  sweepIntervalMs?: number;
  /**
   * The clock of the background sweep of sessions, in ms since the epoch. Default `Date.now`. Sessions
   * otherwise run on the time the session manager passes in: give both the same clock (the manager's
   * `clock`). Records and hit counters always use the real clock.
   */
  clock?: () => number;
}

interface Entry {
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  /** End of the idle lifetime: min(last refresh + idle timeout, expiresAt). What a Redis TTL would be. */
  deadline: number;
  userAgent: string;
  ip: string;
  fields: Map<string, string>;
  /** The session's own idle timeout, when it has one (anonymous, "remember me"). */
  idleTimeoutMs: number | undefined;
  browserSession: boolean;
  /** Flash messages, until a load takes them. */
  flash: Map<string, string>;
}

const DEFAULT_MAX = 100_000;
const DEFAULT_SWEEP_MS = 60_000;
const MAX_TIMER_MS = 2_147_483_647;
/** What Redis accepts as an integer for HINCRBY: no sign on zero, no leading zeros, no spaces. */
const INTEGER_TEXT = /^(0|-?[1-9][0-9]*)$/;

const dumps = new WeakMap<SessionStore, () => string[]>();

/**
 * An embedded, in-process store with the same semantics as the Redis store, for development, tests and
 * single-process deployments. Sessions vanish when the process exits. Expiry is lazy (checked on each
 * access) plus an optional background sweep; memory is bounded by `maxSessions` and `maxRecords`.
 *
 * @example
 * const sessions = createSessionManager({ store: createMemoryStore() });
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): SessionStore {
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError("options", "must be an object");
  }
  const { maxSessions = DEFAULT_MAX, maxRecords = DEFAULT_MAX, sweepIntervalMs = DEFAULT_SWEEP_MS } = options;
  requireWhole("maxSessions", maxSessions, 1, Number.MAX_SAFE_INTEGER);
  const maxAnonymousSessions = options.maxAnonymousSessions ?? DEFAULT_MAX;
  requireWhole("maxAnonymousSessions", maxAnonymousSessions, 1, Number.MAX_SAFE_INTEGER);
  requireWhole("maxRecords", maxRecords, 1, Number.MAX_SAFE_INTEGER);
  requireWhole("sweepIntervalMs", sweepIntervalMs, 0, MAX_TIMER_MS);
  const clock = options.clock ?? Date.now;
  if (typeof clock !== "function") throw new InvalidOptionError("clock", "must be a function returning ms");

  // Map iteration follows insertion order, and a refresh re-inserts its session: the first entry is
  // always the least recently refreshed one, the eviction candidate.
  const sessions = new Map<string, Entry>();
  /** Anonymous sessions: a pool of their own, so that they can never evict a logged-in session. */
  const anonymous = new Map<string, Entry>();
  const poolOf = (entry: Entry): Map<string, Entry> => (entry.userId === "" ? anonymous : sessions);
  const byUser = new Map<string, Set<string>>();
  /** When each user's sessions were last revoked, for REVOCATION_MEMORY_MS (see `create`). */
  const revokedAt = new Map<string, number>();
  let closed = false;
  const assertOpen = (): void => {
    if (closed) throw new StoreUnavailableError("latchkey: the memory store is closed");
  };
  const records = createMemoryRecords({ maxRecords, maxCounters: options.maxCounters }, assertOpen);

  const remove = (id: string): void => {
    const entry = sessions.get(id) ?? anonymous.get(id);
    if (!entry) return;
    poolOf(entry).delete(id);
    if (entry.userId === "") return;
    const ids = byUser.get(entry.userId);
    ids?.delete(id);
    if (ids?.size === 0) byUser.delete(entry.userId);
  };

  const add = (id: string, entry: Entry): void => {
    poolOf(entry).set(id, entry);
    if (entry.userId === "") return;
    let ids = byUser.get(entry.userId);
    if (!ids) {
      ids = new Set();
      byUser.set(entry.userId, ids);
    }
    ids.add(id);
  };

  /** The session if it is alive at `now`; an expired one is deleted, as Redis would have. */
  const live = (id: string, now: number): Entry | undefined => {
    const entry = sessions.get(id) ?? anonymous.get(id);
    if (entry && (now >= entry.expiresAt || now >= entry.deadline)) {
      remove(id);
      return undefined;
    }
    return entry;
  };

  // A sweep is a full scan: when the store is full of live sessions it runs at most once per
  // `sweepEvery` new sessions rather than on every one (amortized O(16) per new session).
  const sweepEvery = Math.max(1, Math.floor(maxSessions / 16));
  let insertsSinceSweep = Number.POSITIVE_INFINITY;
  const sweep = (now: number): void => {
    for (const id of sessions.keys()) live(id, now);
    for (const id of anonymous.keys()) live(id, now);
    for (const [userId, at] of revokedAt) if (now - at > REVOCATION_MEMORY_MS) revokedAt.delete(userId);
    insertsSinceSweep = 0;
  };

  /** Ends the user's oldest sessions (by creation) until at most `max` are alive, never `keepId`. */
  const capUser = (userId: string, keepId: string, max: number, now: number): void => {
    const ids = byUser.get(userId);
    if (!ids || ids.size <= max) return;
    for (const id of ids) live(id, now);
    while (ids.size > max) {
      let oldest: string | undefined;
      let oldestAt = Number.POSITIVE_INFINITY;
      for (const id of ids) {
        const createdAt = sessions.get(id)?.createdAt ?? 0;
        if (id !== keepId && createdAt < oldestAt) {
          oldest = id;
          oldestAt = createdAt;
        }
      }
      if (oldest === undefined) return;
      remove(oldest);
    }
  };

  const makeRoom = (now: number, pool: Map<string, Entry>, max: number): void => {
    insertsSinceSweep += 1;
    if (pool.size < max) return;
    if (insertsSinceSweep >= sweepEvery) sweep(now);
    while (pool.size >= max) {
      const oldest = pool.keys().next();
      if (oldest.done) return;
      remove(oldest.value);
    }
  };

  /** Restarts the idle timer at `now` and moves the session to the back of the eviction order. */
  const refresh = (id: string, entry: Entry, now: number, idleTimeoutMs: number): void => {
    entry.lastSeenAt = now;
    entry.deadline = Math.min(now + (entry.idleTimeoutMs ?? idleTimeoutMs), entry.expiresAt);
    const pool = poolOf(entry);
    pool.delete(id);
    pool.set(id, entry);
  };

  const sweepAll = (): void => {
    sweep(clock());
    // Records and counters take no time from their callers: they run on the real clock.
    records.sweep(Date.now());
  };
  const timer = sweepIntervalMs > 0 ? setInterval(sweepAll, sweepIntervalMs) : undefined;
  timer?.unref();

  const store = {
    kind: "memory",
    records: records.api,

    async create(session, policy) {
      assertOpen();
      for (const field of Object.keys(session.fields)) assertUserField(field);
      const idleTimeoutMs = session.idleTimeoutMs ?? policy.idleTimeoutMs;
      if (Math.min(idleTimeoutMs, session.expiresAt - policy.now) < 1) {
        throw new InvalidArgumentError("the session would expire at once: nothing was written");
      }
      const revoked = session.userId === "" ? undefined : revokedAt.get(session.userId);
      if (
        revoked !== undefined &&
        session.createdAt <= revoked &&
        policy.now - revoked <= REVOCATION_MEMORY_MS
      ) {
        throw new SessionRevokedError("sessions of this user were revoked while this one was being created");
      }
      if (live(session.id, policy.now)) {
        throw new InvalidArgumentError("a session with this id already exists: nothing was written");
      }
      remove(session.id);
      const isAnonymous = session.userId === "";
      if (isAnonymous) makeRoom(policy.now, anonymous, maxAnonymousSessions);
      else makeRoom(policy.now, sessions, maxSessions);
      add(session.id, {
        userId: session.userId,
        createdAt: session.createdAt,
        lastSeenAt: session.lastSeenAt,
        expiresAt: session.expiresAt,
        deadline: Math.min(policy.now + idleTimeoutMs, session.expiresAt),
        userAgent: session.userAgent,
        ip: session.ip,
        fields: new Map(Object.entries(session.fields)),
        idleTimeoutMs: session.idleTimeoutMs,
        browserSession: session.browserSession === true,
        flash: new Map(Object.entries(session.flash ?? {})),
      });
      if (!isAnonymous) capUser(session.userId, session.id, policy.maxSessionsPerUser, policy.now);
    },

    async load(id, policy, increments) {
      assertOpen();
      for (const [field, by] of Object.entries(increments ?? {})) assertStep(field, by);
      const entry = live(id, policy.now);
      if (!entry) return null;
      // Every step is checked before anything is written, so a failing load changes nothing.
      const updated = increments ? addAll(entry.fields, increments) : [];
      if (policy.now - entry.lastSeenAt >= policy.touchIntervalMs) {
        refresh(id, entry, policy.now, policy.idleTimeoutMs);
      }
      for (const [field, value] of updated) entry.fields.set(field, value);
      const loaded = snapshot(id, entry, policy.takeFlash === true);
      if (policy.takeFlash) entry.flash.clear();
      return loaded;
    },

    async update(id, changes, now) {
      assertOpen();
      for (const field of Object.keys(changes.set ?? {})) assertUserField(field);
      for (const field of changes.remove ?? []) assertUserField(field);
      const entry = live(id, now);
      if (!entry) return false;
      assertFitsWithin(entry.fields, changes.set ?? {}, changes.remove ?? [], changes.maxBytes);
      for (const [field, value] of Object.entries(changes.set ?? {})) entry.fields.set(field, value);
      for (const field of changes.remove ?? []) entry.fields.delete(field);
      for (const [name, text] of Object.entries(changes.flash ?? {})) entry.flash.set(name, text);
      return true;
    },

    async increment(id, field, by, now) {
      assertOpen();
      assertStep(field, by);
      const entry = live(id, now);
      if (!entry) return null;
      const value = added(entry.fields, field, by);
      entry.fields.set(field, value);
      return Number(value);
    },

    async rotate(oldId, newId, policy) {
      assertOpen();
      const entry = live(oldId, policy.now);
      if (!entry) return null;
      remove(oldId);
      remove(newId);
      add(newId, entry);
      refresh(newId, entry, policy.now, policy.idleTimeoutMs);
      return snapshot(newId, entry);
    },

    async take(id, now) {
      assertOpen();
      const entry = live(id, now);
      if (!entry) return null;
      remove(id);
      return snapshot(id, entry, true);
    },

    async destroy(id, now) {
      assertOpen();
      const existed = live(id, now) !== undefined;
      remove(id);
      return existed;
    },

    async listByUser(userId, now) {
      assertOpen();
      const found: StoredSession[] = [];
      for (const id of byUser.get(userId) ?? []) {
        const entry = live(id, now);
        if (entry) found.push(snapshot(id, entry));
      }
      return found;
    },

    async destroyByPublicId(userId, publicId, now) {
      assertOpen();
      for (const id of byUser.get(userId) ?? []) {
        if (publicIdOf(id) !== publicId) continue;
        const existed = live(id, now) !== undefined;
        remove(id);
        return existed;
      }
      return false;
    },

    async destroyByUser(userId, now, exceptId) {
      assertOpen();
      revokedAt.set(userId, Math.max(now, revokedAt.get(userId) ?? now));
      let count = 0;
      for (const id of byUser.get(userId) ?? []) {
        if (id === exceptId) continue;
        if (live(id, now)) count += 1;
        remove(id);
      }
      return count;
    },

    async ping() {
      assertOpen();
    },

    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      sessions.clear();
      anonymous.clear();
      byUser.clear();
      revokedAt.clear();
      records.clear();
    },
  } satisfies SessionStore;

  dumps.set(store, () => {
    const out: string[] = [];
    for (const [id, e] of [...sessions, ...anonymous]) {
      out.push(`session:${id}`, e.userId, String(e.createdAt), String(e.lastSeenAt), String(e.expiresAt));
      out.push(String(e.deadline), e.userAgent, e.ip, ...[...e.fields].flat(), ...[...e.flash].flat());
    }
    for (const [userId, ids] of byUser) out.push(`user:${userId}`, ...ids);
    out.push(...records.dump());
    return out;
  });
  return store;
}

/**
 * Every key and value the memory store holds, as strings: what a dump of a Redis database would show.
 * For tests (the conformance suite proves no token is ever stored); not part of the public API.
 * @internal
 */
export function dumpMemoryStore(store: SessionStore): string[] {
  const dump = dumps.get(store);
  if (!dump) throw new InvalidArgumentError("not a store made by createMemoryStore");
  return dump();
}

/** A copy the caller may change freely; with its flash messages only when they are being taken. */
function snapshot(id: string, entry: Entry, withFlash = false): StoredSession {
  const copy: StoredSession = {
    id,
    userId: entry.userId,
    createdAt: entry.createdAt,
    lastSeenAt: entry.lastSeenAt,
    expiresAt: entry.expiresAt,
    userAgent: entry.userAgent,
    ip: entry.ip,
    fields: Object.fromEntries(entry.fields),
  };
  if (entry.idleTimeoutMs !== undefined) copy.idleTimeoutMs = entry.idleTimeoutMs;
  if (entry.browserSession) copy.browserSession = true;
  if (withFlash && entry.flash.size > 0) copy.flash = Object.fromEntries(entry.flash);
  return copy;
}

/**
 * The new value of `field` after adding `by`, without writing it. Like Redis HINCRBY, a missing field
 * counts from 0 and a value that is not an integer is an error; unlike Redis (64-bit), values must stay
 * within JavaScript's safe integers so that every count is exact.
 */
function added(fields: Map<string, string>, field: string, by: number): string {
  const text = fields.get(field) ?? "0";
  const current = Number(text);
  if (!INTEGER_TEXT.test(text) || !Number.isSafeInteger(current)) {
    throw new InvalidArgumentError(`field "${field}" holds ${JSON.stringify(text)}, not an integer`);
  }
  const next = current + by;
  if (!Number.isSafeInteger(next)) {
    throw new InvalidArgumentError(`incrementing "${field}" by ${by} would leave the safe integer range`);
  }
  return String(next);
}

/** Names starting with "$" hold metadata in the Redis hash; the memory store refuses them just the same. */
function assertUserField(name: string): void {
  if (name.startsWith("$")) {
    throw new InvalidArgumentError(
      `field name ${JSON.stringify(name)} is reserved: names starting with "$" hold session metadata`,
    );
  }
}

/**
 * The session's own fields after `set` and `remove` must hold at most `maxBytes` (names and values,
 * UTF-8), as the Redis update script counts them.
 */
function assertFitsWithin(
  fields: Map<string, string>,
  set: Readonly<Record<string, string>>,
  remove: readonly string[],
  maxBytes: number,
): void {
  const sizes = new Map<string, number>();
  for (const [name, value] of fields) sizes.set(name, Buffer.byteLength(name) + Buffer.byteLength(value));
  for (const [name, value] of Object.entries(set))
    sizes.set(name, Buffer.byteLength(name) + Buffer.byteLength(value));
  for (const name of remove) sizes.delete(name);
  let total = 0;
  for (const size of sizes.values()) total += size;
  if (total > maxBytes) {
    throw new InvalidArgumentError(
      `the session would hold ${total} bytes of fields, over its limit of ${maxBytes}: nothing was written`,
    );
  }
}

/** An increment step is checked before the session is looked up, as the Redis store does. */
function assertStep(field: string, by: unknown): void {
  assertUserField(field);
  if (typeof by !== "number" || !Number.isSafeInteger(by)) {
    throw new InvalidArgumentError(`increment of "${field}" must be a safe integer, got ${String(by)}`);
  }
}

/** All the new values of a multi-field increment, computed (and checked) before any is written. */
function addAll(fields: Map<string, string>, steps: Readonly<Record<string, number>>): [string, string][] {
  return Object.entries(steps).map(([field, by]) => [field, added(fields, field, by)]);
}

function requireWhole(option: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(
      option,
      `must be a whole number from ${min} to ${max}, got ${String(value)}`,
    );
  }
}
