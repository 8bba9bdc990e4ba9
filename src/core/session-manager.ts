import { InvalidArgumentError, InvalidOptionError } from "./errors.js";
import {
  assertFieldName,
  decodeFields,
  encodeFields,
  type FieldSchema,
  type IntegerField,
  type SessionData,
  validateSchema,
} from "./fields.js";
import type { SessionStore, StoredSession, TouchPolicy } from "./session-store.js";
import { generateToken, isWellFormedToken, publicIdOf, sessionIdOf } from "./token.js";

export interface SessionManagerOptions<S extends FieldSchema> {
  /** Where sessions live: `createRedisStore(...)` or `createMemoryStore()`. */
  store: SessionStore;
  /** Seconds of inactivity after which a session ends (sliding). Default 1800 (30 minutes). */
  idleTimeoutSeconds?: number;
  /** Seconds after creation at which a session ends whatever its activity. Default 604800 (a week). */
  absoluteTimeoutSeconds?: number;
  /**
   * Refresh the idle timer at most once per this many seconds, to save writes on busy sessions.
   * Default 0: every load refreshes it. Must be less than `idleTimeoutSeconds`.
   */
  touchIntervalSeconds?: number;
  /** Types of the session's own fields. Without it every field is a string. */
  fields?: S;
  /**
   * Longest user agent kept with a session, in characters; longer ones are cut. Default 64: Redis keeps
   * a hash whose values all fit in 64 bytes (`hash-max-listpack-value`) in a compact encoding, and one
   * raw browser User-Agent (often 120+ characters) would triple the session's memory. Store a summary
   * such as "Firefox on Windows" rather than the raw header.
   */
  maxUserAgentLength?: number;
}

/** A live session, as the application sees it. It never carries the token. */
export interface Session<S extends FieldSchema = FieldSchema> {
  /** Short public id (a prefix of SHA-256(token)): safe to show and log, useless as a credential. */
  id: string;
  userId: string;
  createdAt: Date;
  lastSeenAt: Date;
  /** The absolute end of the session. */
  expiresAt: Date;
  userAgent: string;
  ip: string;
  data: SessionData<S>;
}

export interface CreateSessionOptions<S extends FieldSchema> {
  data?: SessionData<S>;
  userAgent?: string;
  ip?: string;
}

export interface CreatedSession<S extends FieldSchema> {
  /** Give this to the client (in a cookie) and nowhere else. */
  token: string;
  session: Session<S>;
}

export interface LoadOptions<S extends FieldSchema> {
  /** Integer fields to add to atomically in the same store round trip as the load. */
  increment?: Partial<Record<IntegerField<S>, number>>;
}

export interface DestroyForUserOptions {
  /** Keep the session of this token (typically "log out my other devices"). */
  exceptToken?: string;
}

export interface SessionManager<S extends FieldSchema> {
  readonly store: SessionStore;
  readonly idleTimeoutSeconds: number;
  readonly absoluteTimeoutSeconds: number;
  /** Starts a session for `userId` with a fresh token. */
  create(userId: string, options?: CreateSessionOptions<S>): Promise<CreatedSession<S>>;
  /** The session of `token`, refreshing its idle timer; null when the token is unknown, malformed or expired. */
  load(token: string | undefined, options?: LoadOptions<S>): Promise<Session<S> | null>;
  /** Sets fields; false (and nothing written) when the session no longer exists. */
  set(token: string, data: SessionData<S>): Promise<boolean>;
  /** Removes fields; false when the session no longer exists. */
  unset(token: string, fields: readonly (keyof S & string)[]): Promise<boolean>;
  /** Atomically adds `by` (default 1) to an integer field; null when the session no longer exists. */
  increment(token: string, field: IntegerField<S>, by?: number): Promise<number | null>;
  /** Issues a new token for the same session and kills the old one; null when the session is gone. */
  rotate(token: string): Promise<CreatedSession<S> | null>;
  /** Ends a session; false when there was none. */
  destroy(token: string): Promise<boolean>;
  /**
   * The user's live sessions, oldest first. This and the next two calls need the store's per-user
   * index: on a Redis store created with `userIndex: false` they throw UnsupportedOperationError.
   */
  listForUser(userId: string): Promise<Session<S>[]>;
  /** Ends one of the user's sessions by its public id (as shown by `listForUser`). */
  destroyById(userId: string, publicId: string): Promise<boolean>;
  /** Ends every session of the user, optionally except one; returns how many ended. */
  destroyForUser(userId: string, options?: DestroyForUserOptions): Promise<number>;
  /** The public id of a token's session (whether or not it exists), or null for a malformed token. */
  publicIdOf(token: string | undefined): string | null;
}

const DEFAULT_IDLE_SECONDS = 1800;
const DEFAULT_ABSOLUTE_SECONDS = 7 * 24 * 3600;
const MAX_USER_ID_LENGTH = 256;

/**
 * Creates the session engine over a store.
 *
 * @example
 * const sessions = createSessionManager({
 *   store: createRedisStore({ url: "redis://localhost:6379" }),
 *   fields: { username: "string", visits: "integer" },
 * });
 * const { token } = await sessions.create("user-42", { data: { username: "ada" } });
 * const session = await sessions.load(token, { increment: { visits: 1 } });
 */
export function createSessionManager<S extends FieldSchema = Record<string, "string">>(
  options: SessionManagerOptions<S>,
): SessionManager<S> {
  const {
    store,
    idleTimeoutSeconds = DEFAULT_IDLE_SECONDS,
    absoluteTimeoutSeconds = DEFAULT_ABSOLUTE_SECONDS,
    touchIntervalSeconds = 0,
    fields: schema,
    maxUserAgentLength = 64,
  } = options ?? ({} as SessionManagerOptions<S>);

  if (!store || typeof store.load !== "function") {
    throw new InvalidOptionError("store", "is required: pass createRedisStore(...) or createMemoryStore()");
  }
  requirePositive("idleTimeoutSeconds", idleTimeoutSeconds);
  requirePositive("absoluteTimeoutSeconds", absoluteTimeoutSeconds);
  if (absoluteTimeoutSeconds < idleTimeoutSeconds) {
    throw new InvalidOptionError("absoluteTimeoutSeconds", "must not be less than idleTimeoutSeconds");
  }
  if (!Number.isFinite(touchIntervalSeconds) || touchIntervalSeconds < 0) {
    throw new InvalidOptionError("touchIntervalSeconds", "must be a number of seconds >= 0");
  }
  if (touchIntervalSeconds >= idleTimeoutSeconds) {
    throw new InvalidOptionError("touchIntervalSeconds", "must be less than idleTimeoutSeconds");
  }
  if (!Number.isSafeInteger(maxUserAgentLength) || maxUserAgentLength < 0) {
    throw new InvalidOptionError("maxUserAgentLength", "must be a whole number >= 0");
  }
  validateSchema(schema);

  const idleTimeoutMs = Math.round(idleTimeoutSeconds * 1000);
  const absoluteTimeoutMs = Math.round(absoluteTimeoutSeconds * 1000);
  const touchIntervalMs = Math.round(touchIntervalSeconds * 1000);
  const policy = (): TouchPolicy => ({ now: Date.now(), idleTimeoutMs, touchIntervalMs });

  const toSession = (stored: StoredSession): Session<S> => ({
    id: publicIdOf(stored.id),
    userId: stored.userId,
    createdAt: new Date(stored.createdAt),
    lastSeenAt: new Date(stored.lastSeenAt),
    expiresAt: new Date(stored.expiresAt),
    userAgent: stored.userAgent,
    ip: stored.ip,
    data: decodeFields(schema, stored.fields),
  });

  const toSessionOrNull = (stored: StoredSession | null): Session<S> | null =>
    stored ? toSession(stored) : null;

  /** The storage id of a token, or null when the token cannot be valid (and the store is not asked). */
  const idOf = (token: string | undefined): string | null =>
    isWellFormedToken(token) ? sessionIdOf(token) : null;

  const integerStep = (field: string, by: unknown): number => {
    assertFieldName(field);
    if (schema && schema[field] !== "integer") {
      throw new InvalidArgumentError(`field "${field}" is not declared as an integer field`);
    }
    if (!Number.isSafeInteger(by))
      throw new InvalidArgumentError(`increment of "${field}" must be a safe integer`);
    return by as number;
  };

  return {
    store,
    idleTimeoutSeconds,
    absoluteTimeoutSeconds,

    async create(userId, createOptions = {}) {
      assertUserId(userId);
      const token = generateToken();
      const now = Date.now();
      const stored: StoredSession = {
        id: sessionIdOf(token),
        userId,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + absoluteTimeoutMs,
        userAgent: (createOptions.userAgent ?? "").slice(0, maxUserAgentLength),
        ip: createOptions.ip ?? "",
        fields: encodeFields(schema, createOptions.data ?? {}),
      };
      await store.create(stored, { now, idleTimeoutMs, touchIntervalMs });
      return { token, session: toSession(stored) };
    },

    // Not async: every page view comes through here, as one `then` on the store's promise.
    load(token, loadOptions) {
      const id = idOf(token);
      if (id === null) return Promise.resolve(null);
      let increments: Record<string, number> | undefined;
      try {
        if (loadOptions?.increment) {
          increments = {};
          for (const [field, by] of Object.entries(loadOptions.increment)) {
            if (by === undefined) continue; // a Partial's absent field, as `encodeFields` skips it
            increments[field] = integerStep(field, by);
          }
        }
      } catch (error) {
        return Promise.reject(error);
      }
      return store.load(id, policy(), increments).then(toSessionOrNull);
    },

    async set(token, data) {
      const id = idOf(token);
      if (id === null) return false;
      return store.update(id, { set: encodeFields(schema, data as Record<string, unknown>) });
    },

    async unset(token, fieldNames) {
      const id = idOf(token);
      if (id === null) return false;
      for (const name of fieldNames) assertFieldName(name);
      return store.update(id, { remove: fieldNames });
    },

    async increment(token, field, by = 1) {
      const step = integerStep(field, by);
      const id = idOf(token);
      if (id === null) return null;
      return store.increment(id, field, step);
    },

    async rotate(token) {
      const oldId = idOf(token);
      if (oldId === null) return null;
      const newToken = generateToken();
      const stored = await store.rotate(oldId, sessionIdOf(newToken), policy());
      return stored ? { token: newToken, session: toSession(stored) } : null;
    },

    async destroy(token) {
      const id = idOf(token);
      if (id === null) return false;
      return store.destroy(id);
    },

    async listForUser(userId) {
      assertUserId(userId);
      const stored = await store.listByUser(userId, Date.now());
      return stored.sort((a, b) => a.createdAt - b.createdAt).map(toSession);
    },

    async destroyById(userId, publicId) {
      assertUserId(userId);
      if (typeof publicId !== "string" || publicId.length === 0) return false;
      const stored = await store.listByUser(userId, Date.now());
      const match = stored.find((s) => publicIdOf(s.id) === publicId);
      return match ? store.destroy(match.id) : false;
    },

    async destroyForUser(userId, destroyOptions = {}) {
      assertUserId(userId);
      const exceptId = idOf(destroyOptions.exceptToken) ?? undefined;
      return store.destroyByUser(userId, exceptId);
    },

    publicIdOf(token) {
      const id = idOf(token);
      return id === null ? null : publicIdOf(id);
    },
  };
}

/**
 * A user id names a per-user index key: `undefined` or a number would silently name the index of the
 * user "undefined" (listing nothing, revoking nothing, and reporting success).
 */
function assertUserId(userId: unknown): asserts userId is string {
  if (typeof userId !== "string" || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) {
    throw new InvalidArgumentError(`userId must be a string of 1-${MAX_USER_ID_LENGTH} characters`);
  }
}

function requirePositive(option: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, `must be a number of seconds > 0, got ${String(value)}`);
  }
}
