/**
 * The contract every backend implements: 12 members, sessions only. The session manager
 * (`createSessionManager`) owns tokens, hashing, every argument check and the field codecs, and passes
 * each store call values that are already valid (field names, integer steps, lifetimes); a store owns
 * storage and the atomicity of each operation, and checks only what must be checked atomically with
 * the data it holds (a counter's stored value, the byte budget at write time).
 *
 * Two ids, never mixed: a session's *storage id* (`storageId`: its slot tag, then a prefix of
 * SHA-256 of the token) is what a store keys sessions by; its *public id* (16 characters of that
 * digest, `Session.id`) is what pages and logs show. A store never sees a token.
 *
 * All times are milliseconds since the epoch; the caller passes `now` to every call, so that every
 * backend applies the same clock (the manager's `clock` option) and the conformance suite can prove the
 * same behaviour for all of them.
 *
 * A storage id starts with its user's slot tag (`userTagOf(userId)`): a store that shards (Redis
 * Cluster) keeps a user's sessions and index together by it, so that creating, rotating and revoking
 * are each one atomic step.
 *
 * Optional capabilities, announced by being present: `records` (small records beside the sessions),
 * `health()` and `persistence()`.
 */

/** A session as the store keeps it. Field values are strings, as in a Redis hash. */
export interface StoredSession {
  /** Storage id: the token's slot tag, then SHA-256(token), base64url, first 22 characters (132 bits). */
  storageId: string;
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
   * When the user last proved who they are, if later than `createdAt` (set by `SessionChanges.
   * authenticatedAt`, kept by a rotation). Absent: at `createdAt` (a login). Stores keep it only once
   * set, so that a session that was never re-authenticated pays no memory for it.
   */
  authenticatedAt?: number;
  /**
   * When the session's current token was issued, if later than `createdAt`: set by every `rotate`
   * (to `policy.now`). Absent: at `createdAt`. The manager renews a token once it is
   * `renewAfterSeconds` old, counted from here.
   */
  tokenIssuedAt?: number;
  /**
   * One-time messages (name → text), set with `SessionChanges.flash`. A store returns them only from a
   * load with `takeFlash` (or a `take`), which removes them in the same atomic step.
   */
  flash?: Record<string, string>;
}

/**
 * When a session ends if it is not used again: its idle deadline, `lastSeenAt` plus its idle timeout
 * (its own, else the policy's), never past `expiresAt`. The one formula every store and the manager
 * use (the Redis scripts' twin is `IDLE_DEADLINE` in the store's Lua).
 */
export function idleDeadlineOf(
  session: Pick<StoredSession, "lastSeenAt" | "expiresAt" | "idleTimeoutMs">,
  policyIdleTimeoutMs: number,
): number {
  return Math.min(session.lastSeenAt + (session.idleTimeoutMs ?? policyIdleTimeoutMs), session.expiresAt);
}

/** What a load may report instead of null when it found the session expired (and deleted it). */
export type ExpiredAtLoad = "idle_expiry" | "absolute_expiry";

/** How a load (or rotation) refreshes the idle timer. */
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
   * in the same atomic step.
   */
  maxSessionsPerUser: number;
}

/**
 * Integer fields to add to (field → step: a safe integer, the field a valid name, both checked by the
 * manager). A missing field counts from 0; a field that holds no integer, or a sum outside JavaScript's
 * safe integers, is an InvalidArgumentError and nothing of the call is written.
 */
export type FieldIncrements = Readonly<Record<string, number>>;

/** One atomic change of a live session's fields (`update`); a field is in at most one of set, remove and increment. */
export interface SessionChanges {
  set?: Readonly<Record<string, string>>;
  remove?: readonly string[];
  /** Added to atomically; the new values are `update`'s result. Not counted in `maxBytes` until the next `set`. */
  increment?: FieldIncrements;
  /** Records that the user proved who they are at this time (ms): `StoredSession.authenticatedAt`. */
  authenticatedAt?: number;
  /**
   * Flash messages to queue (name → text; a name already queued is replaced). Counted in `maxBytes`
   * with the fields (name and text), so that queued messages cannot grow a session without bound.
   */
  flash?: Readonly<Record<string, string>>;
  /**
   * With `set`, `remove` or `flash`: refuse the change (InvalidArgumentError, nothing written) when the
   * session's own fields and pending flash messages would then hold more than this many bytes, names
   * and values (message names and texts) in UTF-8, counted atomically with the write.
   */
  maxBytes: number;
}

/**
 * A rotation's rewrite of some fields (the manager re-encrypting encrypted fields under the new
 * token): each field of `expect` must still hold that value, checked atomically with the rotation;
 * it then holds its value in `set`, or none when `set` has none. `""` stands for "absent" in `expect`.
 */
export interface FieldRewrite {
  expect: Readonly<Record<string, string>>;
  set: Readonly<Record<string, string>>;
}

/**
 * A renewal (`rotate` with a forward): for `graceMs` after it, the old id stays a *forward* to the new
 * one, so that requests already in flight with the old token reach the same successor (never several
 * sessions), and then it is gone: the old token is dead. `sealedToken` is the new token encrypted under
 * a key derived from the old token (the manager's, opaque to the store): the store keeps it with the
 * forward and gives it back; without the old token nobody can read it.
 */
export interface RotationForward {
  sealedToken: string;
  /** Whole ms, >= 1: how long the old id forwards. */
  graceMs: number;
}

/**
 * What `load` or `rotate` finds at the id of a token renewed less than its grace period ago: the
 * successor's storage id and its sealed token (`RotationForward.sealedToken`). The successor may since
 * have ended; a forward is never followed twice by the store.
 */
export interface ForwardedSession {
  forwardedTo: string;
  sealedToken: string;
}

/** True for a load's or rotation's result that is a forward (a renewed token), not a session. */
export function isForwarded(
  found: StoredSession | ForwardedSession | ExpiredAtLoad | null,
): found is ForwardedSession {
  return found !== null && typeof found === "object" && "sealedToken" in found;
}

export interface SessionStore {
  /** A short name for logs and pages: "memory", "redis", "redis-cluster", ... */
  readonly kind: string;

  /**
   * Writes a new session and adds it to its user's index, in one atomic step, ending the user's oldest
   * sessions beyond `maxSessionsPerUser`. Throws SessionRevokedError (and writes nothing) when the
   * user's sessions were revoked at or after `session.createdAt`: `destroyForUser` ends the sessions
   * being created when it is called, not only those already written. Resolves with how many of the
   * user's older sessions it ended to stay within `maxSessionsPerUser` (for the manager's `over_cap`
   * event); a store that does not say may resolve with nothing.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a store written before the count (`async create() {}`) still conforms
  create(session: StoredSession, policy: CreatePolicy): Promise<number | void>;
  /**
   * Reads a session and refreshes its idle timer, in one atomic step (one round trip on Redis).
   * `increments` are applied atomically in the same step and the returned fields include their new
   * values. Null when there is no session. A session found past its idle deadline or `expiresAt` is
   * deleted, and reported as null or, when the store can tell, as the deadline that passed
   * (`ExpiredAtLoad`: for the manager's events; Redis's TTL usually removes a session before any load
   * could find it expired). At a forward (a token renewed within its grace period) it returns the
   * `ForwardedSession` and changes nothing (no increment, no flash taken, no touch).
   */
  load(
    storageId: string,
    policy: TouchPolicy,
    increments?: FieldIncrements,
  ): Promise<StoredSession | ExpiredAtLoad | ForwardedSession | null>;
  /**
   * Changes fields only if the session still exists, in one atomic step: null (and no write) when it
   * does not; else the new values of the incremented fields (`{}` without `increment`). Never extends
   * the session's lifetime. At a forward, it changes the successor (when that is still alive): a write
   * with a token renewed a moment ago is not lost.
   */
  update(storageId: string, changes: SessionChanges, now: number): Promise<Record<string, number> | null>;
  /**
   * Moves a session to a new storage id (token rotation), in one atomic step with its index entry: the
   * old id stops working at once, fields, creation time and absolute expiry carry over, the idle timer
   * restarts, `tokenIssuedAt` becomes `policy.now`. `newStorageId` has the old id's slot tag. Null when
   * the old session no longer exists, or when a field of `rewrite.expect` no longer holds its value
   * (then nothing is written: the old session stays as it is). With `forward` (a renewal), the old id
   * becomes a forward to the new one for `forward.graceMs`, in the same atomic step. When the old id is
   * already a forward (a concurrent renewal won), nothing is written and that `ForwardedSession` is
   * returned.
   */
  rotate(
    storageId: string,
    newStorageId: string,
    policy: TouchPolicy,
    rewrite?: FieldRewrite,
    forward?: RotationForward,
  ): Promise<StoredSession | ForwardedSession | null>;
  /**
   * Deletes a session and its index entry; false when it did not exist (or had expired). At a forward,
   * deletes the forward and its successor (a logout with a token renewed a moment ago still logs out).
   */
  destroy(storageId: string, now: number): Promise<boolean>;
  /**
   * Reads and deletes a live session, flash messages included, in one atomic step (the first half of
   * promoting an anonymous session at login): of concurrent takes, one gets it. Null when there is none.
   * At a forward, takes the successor (and deletes the forward).
   */
  take(storageId: string, now: number): Promise<StoredSession | null>;
  /** The user's live sessions, in one step; index entries of sessions that are gone are pruned. */
  listForUser(userId: string, now: number): Promise<StoredSession[]>;
  /** Deletes the user's session whose public id is `publicId`, in one step; false when none was live. */
  destroyById(userId: string, publicId: string, now: number): Promise<boolean>;
  /**
   * Deletes all of a user's sessions except `exceptStorageId`, in one atomic step, and remembers the
   * revocation time `now` for ten minutes, so that a create that began at or before it fails (every
   * store call is bounded far below that). Returns how many live sessions were deleted.
   */
  destroyForUser(userId: string, now: number, exceptStorageId?: string): Promise<number>;
  /** Resolves when the store answers; throws StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  /** Releases connections and timers. */
  close(): Promise<void>;

  /** Optional capability: small records beside the sessions, in the same backend (accounts, hand-offs). */
  readonly records?: RecordStore;
  /**
   * Optional capability: what the store can do now, reads and writes, per server or Cluster master (a
   * store without it is "ok" while `ping()` resolves). Never throws; bounded by the command timeout.
   */
  health?(): Promise<StoreHealth>;
  /**
   * Optional capability: whether the backend keeps its data across a restart (an embedded store never
   * does). Never throws; `durable` is undefined when the backend does not say.
   */
  persistence?(): Promise<StorePersistence>;
}

export interface RecordInsertOptions {
  /** The record ends this many milliseconds after it is written (whole, > 0). Default: never. */
  ttlMs?: number;
}

export interface RecordUpdateOptions {
  /**
   * Write only if each of these fields holds exactly this value now (compare-and-set: an account's
   * password changed only if it is still the one the caller checked). Default: no condition.
   */
  expect?: Readonly<Record<string, string>>;
}

/**
 * Small records that live beside the sessions in the same backend (accounts, the express-session
 * migration's hand-off records): a store's optional `records` capability. Keys are namespaced by the
 * store, apart from session keys; a record is one key (on a Cluster, routed by its own hash).
 */
export interface RecordStore {
  /**
   * Creates the record only if the key is free (a record whose TTL has run out frees it); false when it
   * already exists. Atomic, with its TTL. A record needs at least one field.
   */
  insert(
    key: string,
    fields: Readonly<Record<string, string>>,
    options?: RecordInsertOptions,
  ): Promise<boolean>;
  /**
   * Sets `fields` of an existing record (the others and its TTL unchanged), only if it exists and
   * every `expect`ed field holds its value; false (nothing written) otherwise. Atomic. At least one
   * field (INVALID_ARGUMENT otherwise).
   */
  update(
    key: string,
    fields: Readonly<Record<string, string>>,
    options?: RecordUpdateOptions,
  ): Promise<boolean>;
  /** The record's fields, or null when there is none. */
  get(key: string): Promise<Record<string, string> | null>;
  /** Forgets a record. */
  delete(key: string): Promise<void>;
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
