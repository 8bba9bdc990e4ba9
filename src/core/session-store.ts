import { InvalidArgumentError } from "./errors.js";

/**
 * The small interface every backend implements. The session manager (`createSessionManager`) owns tokens,
 * hashing, option checks and field codecs; a store owns storage and the atomicity of each operation.
 * Ids given to a store are always storage ids (a prefix of SHA-256 of the token), never tokens.
 *
 * All times are milliseconds since the epoch; the caller passes `now` to every call, so that every
 * backend applies the same clock (the manager's `clock` option) and the conformance suite can prove the
 * same behaviour for all of them.
 *
 * A storage id starts with its user's slot tag (`userTagOf(userId)`, see token.ts): a store that shards
 * (Redis Cluster) keeps a user's sessions and index together by it, so that creating, rotating and
 * revoking are each one atomic step.
 */

/** A session as the store keeps it. Field values are strings, as in a Redis hash. */
export interface StoredSession {
  /** Storage id: the token's slot tag, then SHA-256(token), base64url, first 22 characters (132 bits). */
  id: string;
  /** The user, or "" for an anonymous session (before login): in no index, never revoked per user. */
  userId: string;
  createdAt: number;
  /** When the idle timer was last refreshed (at most `touchIntervalMs` stale). */
  lastSeenAt: number;
  /** Absolute end of life: no activity extends a session past this. */
  expiresAt: number;
  userAgent: string;
  ip: string;
  fields: Record<string, string>;
  /**
   * This session's own idle timeout, when it is not the manager's (anonymous and "remember me"
   * sessions): every refresh uses it instead of the policy's `idleTimeoutMs`.
   */
  idleTimeoutMs?: number;
  /**
   * True for a session whose cookie should end with the browser (no Max-Age): kept with the session so
   * that a rotation keeps its cookie the same kind.
   */
  browserSession?: boolean;
  /**
   * One-time messages (name → text), set with `FieldChanges.flash`. A store returns them only from a
   * load with `takeFlash`, which removes them in the same atomic step.
   */
  flash?: Record<string, string>;
}

export type NewSession = StoredSession;

/** How a load refreshes the idle timer. */
export interface TouchPolicy {
  now: number;
  /** Idle lifetime: the session ends this long after its last refresh, never later than `expiresAt`. */
  idleTimeoutMs: number;
  /** Refresh the idle timer only when the last refresh is at least this old (0: on every load). */
  touchIntervalMs: number;
  /**
   * Load only: also take the session's flash messages, removing them in the same step, so exactly one
   * load (of those that ask) gets each. Loads that do not ask neither see nor remove them.
   */
  takeFlash?: boolean;
}

/** How a create fits its user's other sessions and revocations. */
export interface CreatePolicy extends TouchPolicy {
  /**
   * Most live sessions one user may have: creating one more ends the user's oldest (by `createdAt`),
   * in the same atomic step. Stores without a per-user index cannot apply it.
   */
  maxSessionsPerUser: number;
}

export interface FieldChanges {
  set?: Readonly<Record<string, string>>;
  remove?: readonly string[];
  /** Flash messages to queue (name → text; a name already queued is replaced). Not counted in `maxBytes`. */
  flash?: Readonly<Record<string, string>>;
  /**
   * Refuse the change (InvalidArgumentError, nothing written) when the session's own fields would then
   * hold more than this many bytes, names and values in UTF-8, counted atomically with the write.
   */
  maxBytes: number;
}

/**
 * Small records and counters that live beside the sessions in the same backend (accounts, login
 * throttles). Keys are namespaced by the store, apart from session keys.
 */
export interface RecordInsertOptions {
  /** The record ends this many milliseconds after it is written (whole, > 0). Default: never. */
  ttlMs?: number;
}

export interface RecordStore {
  /**
   * Creates the record only if the key is free (a record whose TTL has run out frees it); false when it
   * already exists. Atomic, with its TTL.
   */
  insert(
    key: string,
    fields: Readonly<Record<string, string>>,
    options?: RecordInsertOptions,
  ): Promise<boolean>;
  /** The record's fields, or null when there is none. */
  get(key: string): Promise<Record<string, string> | null>;
  /** Adds one hit to a fixed-window counter that starts with the first hit; returns the count in the window. */
  hit(key: string, windowMs: number): Promise<number>;
  /** The current count of a hit counter (0 when none). */
  hits(key: string): Promise<number>;
  /**
   * Takes one hit back from a live counter (an attempt counted with `hit` before it was known to be
   * harmless, such as a login that succeeded): never below zero, and the window does not move.
   * Returns the count left (0 when there is no live counter).
   */
  refund(key: string): Promise<number>;
  /** Forgets a record or counter. */
  delete(key: string): Promise<void>;
}

/** The TTL of `RecordStore.insert` options, checked; undefined for none. */
export function recordTTLOf(options: RecordInsertOptions | undefined): number | undefined {
  const ttlMs = options?.ttlMs;
  if (ttlMs === undefined) return undefined;
  if (typeof ttlMs !== "number" || !Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > 2 ** 31 * 1000) {
    throw new InvalidArgumentError(
      `a record's ttlMs must be a whole number of milliseconds > 0, got ${String(ttlMs)}`,
    );
  }
  return ttlMs;
}

export interface SessionStore {
  /** A short name for logs and pages: "memory", "redis", "redis-cluster", ... */
  readonly kind: string;
  readonly records: RecordStore;

  /**
   * Writes a new session and adds it to its user's index, in one atomic step, ending the user's oldest
   * sessions beyond `maxSessionsPerUser`. Throws SessionRevokedError (and writes nothing) when the
   * user's sessions were revoked at or after `session.createdAt`: `destroyByUser` ends the sessions
   * being created when it is called, not only those already written.
   */
  create(session: NewSession, policy: CreatePolicy): Promise<void>;
  /**
   * Reads a session and refreshes its idle timer, in one atomic step (one round trip on Redis).
   * A session past `expiresAt` is deleted and reported as null. `increments` are applied atomically
   * in the same step and the returned fields include their new values.
   */
  load(
    id: string,
    policy: TouchPolicy,
    increments?: Readonly<Record<string, number>>,
  ): Promise<StoredSession | null>;
  /** Sets and removes fields only if the session still exists; false (and no write) when it does not. */
  update(id: string, changes: FieldChanges, now: number): Promise<boolean>;
  /** Atomically adds `by` to an integer field if the session exists; null when it does not. */
  increment(id: string, field: string, by: number, now: number): Promise<number | null>;
  /**
   * Moves a session to a new id (token rotation), in one atomic step with its index entry: the old id
   * stops working at once, fields, creation time and absolute expiry carry over. `newId` has the old
   * id's slot tag. Null when the old session no longer exists.
   */
  rotate(oldId: string, newId: string, policy: TouchPolicy): Promise<StoredSession | null>;
  /** Deletes a session and its index entry; false when it did not exist (or had expired). */
  destroy(id: string, now: number): Promise<boolean>;
  /**
   * Reads and deletes a live session in one atomic step (the first half of promoting an anonymous
   * session at login): of concurrent takes, one gets it. Null when there is none.
   */
  take(id: string, now: number): Promise<StoredSession | null>;
  /** The user's live sessions, in one step; index entries of sessions that are gone are pruned. */
  listByUser(userId: string, now: number): Promise<StoredSession[]>;
  /** Deletes the user's session whose public id (`publicIdOf`) is `publicId`, in one step. */
  destroyByPublicId(userId: string, publicId: string, now: number): Promise<boolean>;
  /**
   * Deletes all of a user's sessions except `exceptId`, in one atomic step, and remembers the
   * revocation time `now` for a while (REVOCATION_MEMORY_MS) so that a create that began at or before
   * it fails. Returns how many live sessions were deleted.
   */
  destroyByUser(userId: string, now: number, exceptId?: string): Promise<number>;
  /** Resolves when the store answers; throws StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  /**
   * What the store can do now, reads and writes, per server or Cluster master (optional: a store
   * without it is "ok" while `ping()` resolves). Never throws; bounded by the store's command timeout.
   */
  health?(): Promise<StoreHealth>;
  /**
   * Whether the backend keeps its data across a restart (optional: an embedded store never does).
   * Never throws; `durable` is undefined when the backend does not say.
   */
  persistence?(): Promise<StorePersistence>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/**
 * "ok": reads and writes work everywhere. "degraded": part of a Cluster fails (some users' sessions
 * fail) while other masters serve. "down": the store cannot serve (unreachable, out of memory so
 * writes fail, loading its dataset, the whole Cluster down).
 */
export type StoreHealthStatus = "ok" | "degraded" | "down";

/** One server's (or Cluster master's) part of `health()`. */
export interface StoreNodeHealth {
  /** `host:port`, or "" when the client does not say (a caller's client, Sentinel). */
  address: string;
  /** How many hash slots it serves (Cluster masters only). */
  slots?: number;
  /** A keyed read (GET) succeeded. */
  reads: boolean;
  /** A small write (a hit on a health counter with a 1 s TTL) succeeded. */
  writes: boolean;
  /** What failed, in an operator's words (never credentials); absent when both work. */
  problem?: string;
}

export interface StoreHealth {
  status: StoreHealthStatus;
  /** The store's `kind`. */
  kind: string;
  /** What failed, one sentence each (empty when "ok"). */
  problems: string[];
  /** Per server or Cluster master, when the store has servers. */
  nodes?: StoreNodeHealth[];
}

/** One server's persistence, from INFO persistence and (where allowed) CONFIG GET save. */
export interface StoreNodePersistence {
  address: string;
  /** AOF is on (`aof_enabled:1`). */
  aof: boolean | undefined;
  /** RDB snapshots are scheduled (`save` is not empty), or have been taken (`rdb_saves` > 0). */
  rdb: boolean | undefined;
  /** Why it could not be told (INFO or CONFIG refused), when it could not. */
  problem?: string;
}

export interface StorePersistence {
  /** False when some server keeps neither RDB nor AOF; undefined when that could not be told. */
  durable: boolean | undefined;
  nodes: StoreNodePersistence[];
}

/**
 * How long a store remembers that a user's sessions were revoked: far longer than any create can be in
 * flight (every call is bounded by the store's command timeout), so that a create that began before the
 * revocation and reaches the store after it is refused rather than written.
 */
export const REVOCATION_MEMORY_MS = 10 * 60 * 1000;

/**
 * Names of the reserved hash fields that hold a session's metadata. They start with "$", which user
 * field names may not, and are short because every session pays for them in memory.
 */
export const META_FIELDS = {
  userId: "$u",
  createdAt: "$c",
  lastSeenAt: "$t",
  expiresAt: "$e",
  userAgent: "$a",
  ip: "$i",
  /** The session's own idle timeout in ms, when it has one. */
  idleTimeout: "$l",
  /** "1" when the session's cookie ends with the browser. */
  browserSession: "$b",
} as const;

/** Prefix of the hash fields that hold flash messages: `$f:<name>`. */
export const FLASH_FIELD_PREFIX = "$f:";
