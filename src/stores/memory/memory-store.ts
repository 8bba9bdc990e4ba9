import {
  InvalidArgumentError,
  InvalidOptionError,
  SessionRevokedError,
  StoreUnavailableError,
} from "../../core/errors.js";
import { REVOCATION_MEMORY_MS } from "../../core/revocation-memory.js";
import {
  idleDeadlineOf,
  type RecordStore,
  type SessionStore,
  type StoredSession,
} from "../../core/session-store.js";
import { publicIdOfStorageId } from "../../core/token.js";
import { requireWholeOption } from "../../core/whole-number.js";
import { addAll, assertFitsWithin } from "./memory-fields.js";
import { createMemoryForwards, forwarded } from "./memory-forwards.js";
import { createMemoryRecords } from "./memory-records.js";

export interface MemoryStoreOptions {
  /**
   * Most sessions kept at once. Default 100_000. When a new session would exceed it, expired sessions
   * are swept first (a full scan, so at most once per maxSessions/16 new sessions); if the store is
   * still full, the least recently refreshed session is evicted (with one idle timeout for every
   * session, the one nearest to its idle deadline). The bound counts sessions, not bytes. The old ids
   * of renewed tokens (forwards, kept for their grace period) are bounded apart, by the same number:
   * when full, the oldest forward is dropped, never a session.
   */
  maxSessions?: number;
  /**
   * Most anonymous sessions (before login) kept at once, apart from `maxSessions`. Default 100_000.
   * When full, the least recently refreshed anonymous session is evicted, never a logged-in one: a flood
   * of anonymous writes can push out only other anonymous sessions. Forwards of renewed anonymous
   * tokens are bounded apart, by the same number (see `maxSessions`).
   */
  maxAnonymousSessions?: number;
  /**
   * Most records kept at once. Default 100_000. Records are never evicted, since they hold data such as
   * accounts: when full, a new one is refused with STORE_FULL.
   */
  maxRecords?: number;
  /**
   * Milliseconds between background sweeps that free expired sessions and records nobody asks for
   * again. Default 60_000; 0 turns the sweep off (expiry is always checked on access anyway). The timer
   * is `unref()`ed, so it never keeps the process alive, and `close()` clears it.
   */
  sweepIntervalMs?: number;
  /**
   * The clock of the background sweep of sessions, in ms since the epoch. Default `Date.now`. Sessions
   * otherwise run on the time the session manager passes in: give both the same clock (the manager's
   * `clock`). Records always use the real clock.
   */
  clock?: () => number;
}

interface Entry {
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  /** End of the idle lifetime (`idleDeadlineOf`), as of the last refresh: what a Redis TTL would be. */
  deadline: number;
  userAgent: string;
  ip: string;
  fields: Map<string, string>;
  /** The session's own idle timeout, when it has one (anonymous, "remember me"). */
  idleTimeoutMs: number | undefined;
  browserSession: boolean;
  /** Flash messages, until a load takes them. */
  flash: Map<string, string>;
  /** When the user last re-authenticated, once they have (`StoredSession.authenticatedAt`). */
  authenticatedAt: number | undefined;
  /** When the current token was issued, once the session has been rotated (`StoredSession.tokenIssuedAt`). */
  tokenIssuedAt: number | undefined;
}

const DEFAULT_MAX = 100_000;
const DEFAULT_SWEEP_MS = 60_000;
const MAX_TIMER_MS = 2_147_483_647;

/** The memory store: a SessionStore with the `records` capability. */
export type MemoryStore = SessionStore & { readonly records: RecordStore };

const dumps = new WeakMap<SessionStore, () => string[]>();

/**
 * An embedded, in-process store with the same semantics as the Redis store, for development, tests and
 * single-process deployments. Sessions vanish when the process exits. Expiry is lazy (checked on each
 * access) plus an optional background sweep; memory is bounded by `maxSessions` and `maxRecords`.
 *
 * @example
 * const sessions = createSessionManager({ store: createMemoryStore() });
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError("options", "must be an object");
  }
  const { maxSessions = DEFAULT_MAX, maxRecords = DEFAULT_MAX, sweepIntervalMs = DEFAULT_SWEEP_MS } = options;
  requireWholeOption("maxSessions", maxSessions, 1, Number.MAX_SAFE_INTEGER);
  const maxAnonymousSessions = options.maxAnonymousSessions ?? DEFAULT_MAX;
  requireWholeOption("maxAnonymousSessions", maxAnonymousSessions, 1, Number.MAX_SAFE_INTEGER);
  requireWholeOption("maxRecords", maxRecords, 1, Number.MAX_SAFE_INTEGER);
  requireWholeOption("sweepIntervalMs", sweepIntervalMs, 0, MAX_TIMER_MS);
  const clock = options.clock ?? Date.now;
  if (typeof clock !== "function") throw new InvalidOptionError("clock", "must be a function returning ms");

  // Map iteration follows insertion order, and a refresh re-inserts its session: the first entry is
  // always the least recently refreshed one, the eviction candidate.
  const sessions = new Map<string, Entry>();
  /** Anonymous sessions: a pool of their own, so that they can never evict a logged-in session. */
  const anonymous = new Map<string, Entry>();
  const poolOf = (entry: Entry): Map<string, Entry> => (entry.userId === "" ? anonymous : sessions);
  const byUser = new Map<string, Set<string>>();
  // Forwards (the old ids of renewed tokens) live in their own bounded pools (memory-forwards.ts). Their
  // inserts count towards the one sweep cadence below, so they get `makeRoom` (defined further down,
  // hence the wrapper: it is only called once the store is built).
  const forwards = createMemoryForwards({
    maxForwards: maxSessions,
    maxAnonymousForwards: maxAnonymousSessions,
    makeRoom: (now, pool, max, evict) => makeRoom(now, pool, max, evict),
  });
  /** When each user's sessions were last revoked, for REVOCATION_MEMORY_MS (see `create`). */
  const revokedAt = new Map<string, number>();
  let closed = false;
  const assertOpen = (): void => {
    if (closed) throw new StoreUnavailableError("latchkey: the memory store is closed");
  };
  const records = createMemoryRecords(maxRecords, assertOpen);

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

  /**
   * The session that `update`, `destroy` and `take` act on: the live session at `id`, or, at a live
   * forward, its successor if that is a live session (one hop: a successor that is itself a forward by
   * now is no session).
   */
  const follow = (id: string, now: number): { id: string; entry: Entry | undefined } => {
    const target = forwards.at(id, now)?.to ?? id;
    return { id: target, entry: live(target, now) };
  };

  // A sweep is a full scan: when the store is full of live sessions it runs at most once per
  // `sweepEvery` new sessions rather than on every one (amortized O(16) per new session).
  const sweepEvery = Math.max(1, Math.floor(maxSessions / 16));
  let insertsSinceSweep = Number.POSITIVE_INFINITY;
  const sweep = (now: number): void => {
    for (const id of sessions.keys()) live(id, now);
    for (const id of anonymous.keys()) live(id, now);
    forwards.sweep(now);
    for (const [userId, at] of revokedAt) if (now - at > REVOCATION_MEMORY_MS) revokedAt.delete(userId);
    insertsSinceSweep = 0;
  };

  /**
   * Ends the user's oldest sessions (by creation) until at most `max` are alive, never `keepId`;
   * returns how many live ones it ended.
   */
  const capUser = (userId: string, keepId: string, max: number, now: number): number => {
    const ids = byUser.get(userId);
    if (!ids || ids.size <= max) return 0;
    for (const id of ids) live(id, now);
    let ended = 0;
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
      if (oldest === undefined) return ended;
      remove(oldest);
      ended += 1;
    }
    return ended;
  };

  /** Makes room for one more entry in `pool` (of sessions or of forwards), evicting its oldest with `evict`. */
  const makeRoom = (
    now: number,
    pool: ReadonlyMap<string, unknown>,
    max: number,
    evict: (id: string) => void,
  ): void => {
    insertsSinceSweep += 1;
    if (pool.size < max) return;
    if (insertsSinceSweep >= sweepEvery) sweep(now);
    while (pool.size >= max) {
      const oldest = pool.keys().next();
      if (oldest.done) return;
      evict(oldest.value);
    }
  };

  /** Restarts the idle timer at `now` and moves the session to the back of the eviction order. */
  const refresh = (id: string, entry: Entry, now: number, idleTimeoutMs: number): void => {
    entry.lastSeenAt = now;
    entry.deadline = idleDeadlineOf(entry, idleTimeoutMs);
    const pool = poolOf(entry);
    pool.delete(id);
    pool.set(id, entry);
  };

  const sweepAll = (): void => {
    sweep(clock());
    // Records take no time from their callers: they run on the real clock.
    records.sweep(Date.now());
  };
  const timer = sweepIntervalMs > 0 ? setInterval(sweepAll, sweepIntervalMs) : undefined;
  timer?.unref();

  const store = {
    kind: "memory",
    records: records.api,

    async create(session, policy) {
      assertOpen();
      // A create (or a restored session) starts its idle timer now.
      const deadline = idleDeadlineOf({ ...session, lastSeenAt: policy.now }, policy.idleTimeoutMs);
      if (deadline - policy.now < 1) {
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
      const id = session.storageId;
      if (live(id, policy.now) || forwards.at(id, policy.now)) {
        throw new InvalidArgumentError("a session with this id already exists: nothing was written");
      }
      remove(id);
      const isAnonymous = session.userId === "";
      if (isAnonymous) makeRoom(policy.now, anonymous, maxAnonymousSessions, remove);
      else makeRoom(policy.now, sessions, maxSessions, remove);
      add(id, {
        userId: session.userId,
        createdAt: session.createdAt,
        lastSeenAt: session.lastSeenAt,
        expiresAt: session.expiresAt,
        deadline,
        userAgent: session.userAgent,
        ip: session.ip,
        fields: new Map(Object.entries(session.fields)),
        idleTimeoutMs: session.idleTimeoutMs,
        browserSession: session.browserSession === true,
        flash: new Map(Object.entries(session.flash ?? {})),
        authenticatedAt: session.authenticatedAt,
        tokenIssuedAt: session.tokenIssuedAt,
      });
      return isAnonymous ? 0 : capUser(session.userId, id, policy.maxSessionsPerUser, policy.now);
    },

    async load(id, policy, increments) {
      assertOpen();
      // A renewed token's old id: the forward, and nothing changed (no increment, touch or flash taken).
      const forward = forwards.at(id, policy.now);
      if (forward) return forwarded(forward);
      const entry = sessions.get(id) ?? anonymous.get(id);
      if (!entry) return null;
      // An expired session is deleted, as Redis would have, and the load says which deadline passed.
      if (policy.now >= entry.expiresAt || policy.now >= entry.deadline) {
        remove(id);
        return policy.now >= entry.expiresAt ? "absolute_expiry" : "idle_expiry";
      }
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
      // At a forward, the successor: a write made with a token renewed a moment ago is not lost.
      const { entry } = follow(id, now);
      if (!entry) return null;
      const { set = {}, remove = [], increment, flash = {} } = changes;
      // Everything is checked before anything is written, so a failing update changes nothing.
      if (changes.set !== undefined || changes.remove !== undefined || changes.flash !== undefined) {
        assertFitsWithin(entry, set, remove, flash, changes.maxBytes);
      }
      const sums = increment ? addAll(entry.fields, increment) : [];
      for (const [field, value] of Object.entries(set)) entry.fields.set(field, value);
      for (const field of remove) entry.fields.delete(field);
      for (const [name, text] of Object.entries(flash)) entry.flash.set(name, text);
      if (changes.authenticatedAt !== undefined) entry.authenticatedAt = changes.authenticatedAt;
      const counted: Record<string, number> = {};
      for (const [field, value] of sums) {
        entry.fields.set(field, value);
        counted[field] = Number(value);
      }
      return counted;
    },

    async rotate(oldId, newId, policy, rewrite, forward) {
      assertOpen();
      // Already renewed (a concurrent renewal won): write nothing, and say where the token went.
      const found = forwards.at(oldId, policy.now);
      if (found) return forwarded(found);
      const entry = live(oldId, policy.now);
      if (!entry) return null;
      if (rewrite) {
        for (const [field, value] of Object.entries(rewrite.expect)) {
          if ((entry.fields.get(field) ?? "") !== value) return null;
        }
        for (const field of Object.keys(rewrite.expect)) {
          const value = rewrite.set[field];
          if (value === undefined) entry.fields.delete(field);
          else entry.fields.set(field, value);
        }
      }
      remove(oldId);
      remove(newId);
      forwards.drop(newId);
      entry.tokenIssuedAt = policy.now;
      add(newId, entry);
      refresh(newId, entry, policy.now, policy.idleTimeoutMs);
      if (forward) forwards.add(oldId, newId, entry.userId, forward, policy.now);
      return snapshot(newId, entry);
    },

    async take(id, now) {
      assertOpen();
      // At a forward, the successor; the forward goes with it.
      const { entry, id: takenId } = follow(id, now);
      if (!entry) return null;
      forwards.drop(id);
      remove(takenId);
      return snapshot(takenId, entry, true);
    },

    async destroy(id, now) {
      assertOpen();
      // At a forward, the forward and its successor: a logout with a token renewed a moment ago logs out.
      const { entry, id: target } = follow(id, now);
      forwards.drop(id);
      remove(target);
      return entry !== undefined;
    },

    async listForUser(userId, now) {
      assertOpen();
      const found: StoredSession[] = [];
      for (const id of byUser.get(userId) ?? []) {
        const entry = live(id, now);
        if (entry) found.push(snapshot(id, entry));
      }
      return found;
    },

    async destroyById(userId, publicId, now) {
      assertOpen();
      for (const id of byUser.get(userId) ?? []) {
        if (publicIdOfStorageId(id) !== publicId) continue;
        const existed = live(id, now) !== undefined;
        remove(id);
        return existed;
      }
      return false;
    },

    async destroyForUser(userId, now, exceptId) {
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
      forwards.clear();
      byUser.clear();
      revokedAt.clear();
      records.clear();
    },
  } satisfies MemoryStore;

  dumps.set(store, () => {
    const out: string[] = [];
    for (const [id, e] of [...sessions, ...anonymous]) {
      out.push(`session:${id}`, e.userId, String(e.createdAt), String(e.lastSeenAt), String(e.expiresAt));
      out.push(String(e.deadline), e.userAgent, e.ip, ...[...e.fields].flat(), ...[...e.flash].flat());
    }
    out.push(...forwards.dump());
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
    storageId: id,
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
  if (entry.authenticatedAt !== undefined) copy.authenticatedAt = entry.authenticatedAt;
  if (entry.tokenIssuedAt !== undefined) copy.tokenIssuedAt = entry.tokenIssuedAt;
  if (withFlash && entry.flash.size > 0) copy.flash = Object.fromEntries(entry.flash);
  return copy;
}
