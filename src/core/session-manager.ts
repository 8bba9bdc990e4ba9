import { InvalidArgumentError, InvalidOptionError, StoreUnavailableError } from "./errors.js";
import {
  decryptFields,
  decryptValue,
  encryptFields,
  encryptValue,
  fieldKeyOf,
  validateEncryptFields,
} from "./field-encryption.js";
import {
  assertFieldName,
  decodeFields,
  encodeFields,
  type FieldSchema,
  type IntegerField,
  type SessionData,
  validateSchema,
} from "./fields.js";
import type { LoadMissReason, SessionEvent } from "./session-events.js";
import { createSessionObserver } from "./session-observer.js";
import {
  type ForwardedSession,
  idleDeadlineOf,
  isForwarded,
  type RotationForward,
  type SessionStore,
  type StoredSession,
  type TouchPolicy,
} from "./session-store.js";
import {
  generateToken,
  isWellFormedToken,
  PUBLIC_ID_LENGTH,
  publicIdOfStorageId,
  storageIdOf,
  tagOf,
  userTagOf,
} from "./token.js";
import { requireWholeArgument, requireWholeOption } from "./whole-number.js";

export interface SessionManagerOptions<S extends FieldSchema> {
  /** Where sessions live: `createRedisStore(...)` or `createMemoryStore()`. */
  store: SessionStore;
  /**
   * Whole seconds of inactivity after which a session ends (sliding). Default 1800 (30 minutes); at
   * least 1 (a shorter lifetime could not outlive the request that creates it).
   */
  idleTimeoutSeconds?: number;
  /** Whole seconds after creation at which a session ends whatever its activity. Default 604800 (a week). */
  absoluteTimeoutSeconds?: number;
  /**
   * Refresh the idle timer at most once per this many whole seconds, to save writes on busy sessions.
   * Default 0: every load refreshes it. Must be less than `idleTimeoutSeconds`.
   */
  touchIntervalSeconds?: number;
  /**
   * Most live sessions one user may have. Default 100. A create beyond it ends the user's oldest
   * session (by creation) in the same atomic step, so that one account cannot grow its index (and the
   * cost of its logins and lists) without bound. Needs the store's per-user index (a Redis store with
   * `userIndex: false` cannot apply it).
   */
  maxSessionsPerUser?: number;
  /**
   * Largest value of one field, in bytes (UTF-8 of the stored form: JSON for "json" fields). Default
   * 8192. A larger one is refused with InvalidArgumentError and nothing is written.
   */
  maxFieldBytes?: number;
  /**
   * Most bytes a session's own fields and pending flash messages may hold together (names and values,
   * UTF-8). Default 32768. Checked by the store atomically with each write: a `set` or `flash` that
   * would exceed it is refused (InvalidArgumentError) and writes nothing. Counters bumped by `increment` count toward it at the
   * next `set`.
   */
  maxSessionBytes?: number;
  /**
   * Whole seconds of inactivity after which an anonymous session (`createAnonymous`: before login)
   * ends. Default 900 (15 minutes), shorter than a logged-in session's.
   */
  anonymousIdleTimeoutSeconds?: number;
  /** Whole seconds after creation at which an anonymous session ends. Default 86400 (a day). */
  anonymousAbsoluteTimeoutSeconds?: number;
  /**
   * The longest absolute lifetime a session may be given at create (`absoluteTimeoutSeconds` in the
   * create options: "remember me"). Default 90 days, and never less than `absoluteTimeoutSeconds`.
   */
  maxAbsoluteTimeoutSeconds?: number;
  /**
   * The clock, in ms since the epoch. Default `Date.now`. Every store call gets its time from here
   * (the memory store keeps no clock of its own), so tests can drive expiry without sleeping. Redis
   * TTLs still run on Redis's own clock: give Redis stores the real time.
   */
  clock?: () => number;
  /** Types of the session's own fields. Without it every field is a string. */
  fields?: S;
  /**
   * Longest user agent kept with a session, in characters; longer ones are cut. Default 64: Redis keeps
   * a hash whose values all fit in 64 bytes (`hash-max-listpack-value`) in a compact encoding, and one
   * raw browser User-Agent (often 120+ characters) would triple the session's memory. Store a summary
   * such as "Firefox on Windows" rather than the raw header.
   */
  maxUserAgentLength?: number;
  /**
   * Fields stored encrypted (AES-256-GCM under a key derived from the session's token, which is stored
   * nowhere): no store value, dump, replica or MONITOR line shows them, and only a request with the
   * cookie can read them. Each must be declared in `fields` as "string" or "json" (Redis counts
   * integers, so an integer cannot be encrypted). `listForUser` has no token and returns them absent; a
   * value that does not decrypt (tampered with) is left out as an undecodable one is. A rotation
   * re-encrypts them under the new token (one more store round trip). See docs/security.md.
   */
  encryptFields?: readonly (keyof S & string)[];
  /**
   * Renew a session's token once it is this many whole seconds old (counted from the login or the
   * last rotation or renewal): the next load that can hand a new token to the client (`onRenew`, which
   * every adapter passes) moves the session to a new token in one atomic store step; data, lifetimes,
   * `authenticatedAt` and the user index carry over. A token stolen from a log, a proxy or a shared
   * computer then works for at most this long plus `renewGraceSeconds` while its owner keeps using
   * the session (OWASP's "renewal timeout"). Default 0: never. One more store round trip per renewal,
   * and one for each request that arrives with the old token during the grace period.
   */
  renewAfterSeconds?: number;
  /**
   * Whole seconds the old token keeps working after a renewal, for requests already in flight with it
   * (another tab, a slow upload): each of them gets the same successor (never a second session) and
   * its cookie; then the old token is dead. Default 60; at least 1 and less than `renewAfterSeconds`.
   */
  renewGraceSeconds?: number;
  /**
   * Called with every lifecycle event (created, promoted, rotated, destroyed with its reason, a load
   * that found nothing, a failed store call), synchronously, after the call's store step. The same
   * events go to `node:diagnostics_channel` (`latchkey:session:created` ...: see `CHANNELS`). A payload
   * names sessions by public id, never by token. An exception it throws is ignored.
   *
   * @example
   * createSessionManager({ store, onEvent: (event) => log.info({ event }, "session event") });
   */
  onEvent?: (event: SessionEvent) => void;
}

/** A live session, as the application sees it. It never carries the token. */
export interface Session<S extends FieldSchema = FieldSchema> {
  /** Short public id (a prefix of SHA-256(token)): safe to show and log, useless as a credential. */
  id: string;
  /** The user, or null for an anonymous session (before login, `createAnonymous`). */
  userId: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  /** The absolute end of the session. */
  expiresAt: Date;
  userAgent: string;
  ip: string;
  data: SessionData<S>;
  /** When the session ends if it is not used again: its idle deadline, never past `expiresAt`. */
  idleExpiresAt: Date;
  /** True when its cookie ends with the browser (`browserSession`), false for a persistent cookie. */
  browserSession: boolean;
  /**
   * When the user last proved who they are: the login that created the session (`create`, `promote`),
   * or the latest `reauthenticate`. A rotation keeps it. Null for an anonymous session. Ask for a recent
   * one before a sensitive action (ASVS 7.5: re-authentication).
   */
  authenticatedAt: Date | null;
  /**
   * Flash messages (name → text) taken by this load (`load(token, { takeFlash: true })`): each is
   * delivered to exactly one such load, then gone. Empty otherwise.
   */
  flash: Record<string, string>;
}

export interface CreateSessionOptions<S extends FieldSchema> {
  data?: SessionData<S>;
  userAgent?: string;
  ip?: string;
  /**
   * This session's own idle timeout, in whole seconds, instead of the manager's ("remember me": a long
   * one). At most its absolute timeout.
   */
  idleTimeoutSeconds?: number;
  /** This session's own absolute lifetime, in whole seconds; at most `maxAbsoluteTimeoutSeconds`. */
  absoluteTimeoutSeconds?: number;
  /**
   * Its cookie ends when the browser closes (no Max-Age): a session the user did not ask to keep. The
   * server still ends it by its timeouts. Kept with the session, so a rotation keeps it so.
   */
  browserSession?: boolean;
}

export interface PromoteOptions<S extends FieldSchema> extends CreateSessionOptions<S> {
  /**
   * Fields of the anonymous session to carry into the user's (a cart, a language choice); the others
   * (an OAuth verifier, say) end with it. `data` is written over them. Pending flash messages always
   * carry over.
   */
  keep?: readonly string[];
}

export interface CreatedSession<S extends FieldSchema> {
  /** Give this to the client (in a cookie) and nowhere else. */
  token: string;
  session: Session<S>;
}

export interface LoadOptions<S extends FieldSchema> {
  /** Integer fields to add to atomically in the same store round trip as the load. */
  increment?: Partial<Record<IntegerField<S>, number>>;
  /** Take the session's flash messages (into `session.flash`), removing them in the same round trip. */
  takeFlash?: boolean;
  /**
   * Called, before the load resolves, when the presented token has been replaced: renewed by this load
   * (`renewAfterSeconds`), or by a concurrent request within its grace period. Keep `renewed.token` in
   * place of the presented one (set it as the cookie). A load without `onRenew` never renews a token
   * (a caller that cannot pass a new token on must not get one), but still finds the session through
   * a token renewed moments ago.
   */
  onRenew?: (renewed: CreatedSession<S>) => void;
}

export interface DestroyForUserOptions {
  /** Keep the session of this token (typically "log out my other devices"). */
  exceptToken?: string;
}

export interface SessionManager<S extends FieldSchema> {
  readonly store: SessionStore;
  readonly idleTimeoutSeconds: number;
  readonly absoluteTimeoutSeconds: number;
  /** Tokens older than this are renewed at a load with `onRenew` (0: never). */
  readonly renewAfterSeconds: number;
  /** Starts a session for `userId` with a fresh token. */
  create(userId: string, options?: CreateSessionOptions<S>): Promise<CreatedSession<S>>;
  /**
   * Starts an anonymous session (no user: in no index, with the anonymous lifetimes), for state kept
   * before login. Create it when something is first written, not for every visitor.
   */
  createAnonymous(options?: CreateSessionOptions<S>): Promise<CreatedSession<S>>;
  /**
   * Logs in from the session of `token`: a session for `userId` with a fresh token, carrying the
   * `keep` fields and flash messages of that session when it was anonymous (nothing of another user's).
   * The old token's session (whoever's it was) ends first, in one atomic step (fixation stays
   * impossible); with no live session behind `token` this is a plain `create`.
   */
  promote(token: string | undefined, userId: string, options?: PromoteOptions<S>): Promise<CreatedSession<S>>;
  /**
   * Queues a one-time message under `name` (a field name; the same name replaces it) for the next load
   * that takes flash. False (nothing written) when the session no longer exists.
   */
  flash(token: string, name: string, text: string): Promise<boolean>;
  /**
   * Records that the session's user has just proved who they are (the app checked a password or
   * another credential): `authenticatedAt` becomes now. False (nothing written) when the session no
   * longer exists. Call it only after checking the credential yourself.
   */
  reauthenticate(token: string): Promise<boolean>;
  /** The session of `token`, refreshing its idle timer; null when the token is unknown, malformed or expired. */
  load(token: string | undefined, options?: LoadOptions<S>): Promise<Session<S> | null>;
  /** Sets fields; false (and nothing written) when the session no longer exists. */
  set(token: string, data: SessionData<S>): Promise<boolean>;
  /** Removes fields; false when the session no longer exists. */
  unset(token: string, fields: readonly (keyof S & string)[]): Promise<boolean>;
  /**
   * Sets some fields and removes others (a field in one of the two at most) in one atomic step: all of
   * it is written or (on any error, or over `maxSessionBytes`) none of it. False, and nothing written,
   * when the session no longer exists.
   */
  update(token: string, set: SessionData<S>, remove?: readonly (keyof S & string)[]): Promise<boolean>;
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
/** About 68 years: beyond it ms timestamps lose integer precision in Lua's %.14g. */
const MAX_TIMEOUT_SECONDS = 2 ** 31;
const MAX_USER_ID_LENGTH = 256;
/** The longest textual IP address: an IPv6 address with an embedded IPv4 one. */
const MAX_IP_LENGTH = 45;
const DEFAULT_MAX_SESSIONS_PER_USER = 100;
const DEFAULT_ANONYMOUS_IDLE_SECONDS = 900;
const DEFAULT_ANONYMOUS_ABSOLUTE_SECONDS = 86_400;
const DEFAULT_MAX_ABSOLUTE_SECONDS = 90 * 86_400;
const DEFAULT_MAX_FIELD_BYTES = 8192;
const DEFAULT_MAX_SESSION_BYTES = 32768;
const PUBLIC_ID_PATTERN = new RegExp(`^[A-Za-z0-9_-]{${PUBLIC_ID_LENGTH}}$`);
/** Reads and rotations a rotation with encrypted fields tries before giving up (a `set` came between each). */
const MAX_REKEY_ATTEMPTS = 3;
const DEFAULT_RENEW_GRACE_SECONDS = 60;
/**
 * Forwards a load follows at most: one, or two when a successor was itself renewed within the grace
 * period (only a clock jump can do that, since the grace is shorter than `renewAfterSeconds`).
 */
const MAX_FORWARD_HOPS = 2;
/** The name the successor token is sealed under (as an encrypted field's name: bound into its tag). */
const SEALED_TOKEN_NAME = "$renewed-token";

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
    maxSessionsPerUser = DEFAULT_MAX_SESSIONS_PER_USER,
    maxFieldBytes = DEFAULT_MAX_FIELD_BYTES,
    maxSessionBytes = DEFAULT_MAX_SESSION_BYTES,
    anonymousIdleTimeoutSeconds = DEFAULT_ANONYMOUS_IDLE_SECONDS,
    anonymousAbsoluteTimeoutSeconds = DEFAULT_ANONYMOUS_ABSOLUTE_SECONDS,
    maxAbsoluteTimeoutSeconds = Math.max(DEFAULT_MAX_ABSOLUTE_SECONDS, options?.absoluteTimeoutSeconds ?? 0),
    clock = Date.now,
    encryptFields: encrypted = [],
    renewAfterSeconds = 0,
    renewGraceSeconds = DEFAULT_RENEW_GRACE_SECONDS,
    onEvent,
  } = options ?? ({} as SessionManagerOptions<S>);

  if (!store || typeof store.load !== "function") {
    throw new InvalidOptionError("store", "is required: pass createRedisStore(...) or createMemoryStore()");
  }
  requireWholeOption("idleTimeoutSeconds", idleTimeoutSeconds, 1, MAX_TIMEOUT_SECONDS);
  requireWholeOption("absoluteTimeoutSeconds", absoluteTimeoutSeconds, 1, MAX_TIMEOUT_SECONDS);
  if (absoluteTimeoutSeconds < idleTimeoutSeconds) {
    throw new InvalidOptionError("absoluteTimeoutSeconds", "must not be less than idleTimeoutSeconds");
  }
  requireWholeOption("touchIntervalSeconds", touchIntervalSeconds, 0, MAX_TIMEOUT_SECONDS);
  if (touchIntervalSeconds >= idleTimeoutSeconds) {
    throw new InvalidOptionError("touchIntervalSeconds", "must be less than idleTimeoutSeconds");
  }
  requireWholeOption("maxUserAgentLength", maxUserAgentLength, 0, Number.MAX_SAFE_INTEGER);
  requireWholeOption("maxSessionsPerUser", maxSessionsPerUser, 1, 100_000);
  requireWholeOption("maxFieldBytes", maxFieldBytes, 1, 512 * 1024 * 1024);
  requireWholeOption("maxSessionBytes", maxSessionBytes, 1, 512 * 1024 * 1024);
  requireWholeOption("anonymousIdleTimeoutSeconds", anonymousIdleTimeoutSeconds, 1, MAX_TIMEOUT_SECONDS);
  requireWholeOption(
    "anonymousAbsoluteTimeoutSeconds",
    anonymousAbsoluteTimeoutSeconds,
    1,
    MAX_TIMEOUT_SECONDS,
  );
  if (anonymousAbsoluteTimeoutSeconds < anonymousIdleTimeoutSeconds) {
    throw new InvalidOptionError(
      "anonymousAbsoluteTimeoutSeconds",
      "must not be less than anonymousIdleTimeoutSeconds",
    );
  }
  requireWholeOption("maxAbsoluteTimeoutSeconds", maxAbsoluteTimeoutSeconds, 1, MAX_TIMEOUT_SECONDS);
  if (maxAbsoluteTimeoutSeconds < absoluteTimeoutSeconds) {
    throw new InvalidOptionError("maxAbsoluteTimeoutSeconds", "must not be less than absoluteTimeoutSeconds");
  }
  if (typeof clock !== "function") throw new InvalidOptionError("clock", "must be a function returning ms");
  if (onEvent !== undefined && typeof onEvent !== "function") {
    throw new InvalidOptionError("onEvent", "must be a function");
  }
  validateSchema(schema);
  validateEncryptFields(schema, encrypted);
  requireWholeOption("renewAfterSeconds", renewAfterSeconds, 0, MAX_TIMEOUT_SECONDS);
  requireWholeOption("renewGraceSeconds", renewGraceSeconds, 1, MAX_TIMEOUT_SECONDS);
  if (renewAfterSeconds > 0 && renewGraceSeconds >= renewAfterSeconds) {
    throw new InvalidOptionError("renewGraceSeconds", "must be less than renewAfterSeconds");
  }

  const idleTimeoutMs = idleTimeoutSeconds * 1000;
  const absoluteTimeoutMs = absoluteTimeoutSeconds * 1000;
  const touchIntervalMs = touchIntervalSeconds * 1000;
  const anonymousIdleTimeoutMs = anonymousIdleTimeoutSeconds * 1000;
  const anonymousAbsoluteTimeoutMs = anonymousAbsoluteTimeoutSeconds * 1000;
  const renewAfterMs = renewAfterSeconds * 1000;
  const renewGraceMs = renewGraceSeconds * 1000;
  const now = (): number => Math.floor(clock());
  const policy = (): TouchPolicy => ({ now: now(), idleTimeoutMs, touchIntervalMs });
  const flashPolicy = (): TouchPolicy => ({ now: now(), idleTimeoutMs, touchIntervalMs, takeFlash: true });

  /** Encoded fields, each within `maxFieldBytes` (the session's total is the store's to check). */
  const encodeWithinLimits = (data: Record<string, unknown>): Record<string, string> => {
    const encoded = encodeFields(schema, data);
    for (const [name, value] of Object.entries(encoded)) {
      const bytes = Buffer.byteLength(value);
      if (bytes > maxFieldBytes) {
        throw new InvalidArgumentError(
          `field "${name}" holds ${bytes} bytes, over the limit of ${maxFieldBytes} (maxFieldBytes)`,
        );
      }
    }
    return encoded;
  };

  /**
   * The session as the application sees it; with encrypted fields, those decrypted under the key of
   * `token` (left out without one: a listing).
   */
  const toSession = (stored: StoredSession, token?: string): Session<S> => ({
    id: publicIdOfStorageId(stored.storageId),
    userId: stored.userId === "" ? null : stored.userId,
    createdAt: new Date(stored.createdAt),
    lastSeenAt: new Date(stored.lastSeenAt),
    expiresAt: new Date(stored.expiresAt),
    userAgent: stored.userAgent,
    ip: stored.ip,
    data: decodeFields(
      schema,
      encrypted.length === 0 ? stored.fields : decryptFields(token, encrypted, stored.fields),
    ),
    idleExpiresAt: new Date(idleDeadlineOf(stored, idleTimeoutMs)),
    browserSession: stored.browserSession === true,
    authenticatedAt: stored.userId === "" ? null : new Date(stored.authenticatedAt ?? stored.createdAt),
    flash: stored.flash ?? {},
  });

  // Events: a payload is built only when someone listens (`wants`), so that they cost nothing else.
  const { wants, emit, observingLoads, timed, loaded } = createSessionObserver(store.kind, onEvent);
  const loadMissed = (reason: LoadMissReason, id: string | null): null => {
    loaded(reason, id === null ? null : publicIdOfStorageId(id));
    return null;
  };
  /** A load with someone listening: timed, and its result published. */
  const observedLoad = (
    id: string,
    touch: TouchPolicy,
    increments: Record<string, number> | undefined,
    token: string,
    onRenew: LoadOptions<S>["onRenew"],
  ) =>
    timed("load", () => store.load(id, touch, increments)).then(async (found) => {
      if (found === null) return loadMissed("unknown", id);
      if (typeof found === "string") {
        if (wants("destroyed")) {
          const publicId = publicIdOfStorageId(id);
          emit({ type: "destroyed", reason: found, publicId, userId: null, count: 1 });
        }
        return loadMissed("expired", id);
      }
      const session = await settled(found, token, touch, increments, onRenew);
      if (session === null) return loadMissed("unknown", id);
      loaded("found", session.id);
      return session;
    });

  /**
   * What a load found, as its caller gets it: a forward (a token renewed moments ago) followed to its
   * successor, a session whose token is due renewed when the caller can pass a new token on (`onRenew`),
   * else the session.
   */
  const settled = (
    found: StoredSession | ForwardedSession,
    token: string,
    touch: TouchPolicy,
    increments: Record<string, number> | undefined,
    onRenew: LoadOptions<S>["onRenew"],
  ): Session<S> | Promise<Session<S> | null> => {
    if (isForwarded(found)) return followForward(found, token, touch, increments, onRenew);
    if (
      onRenew !== undefined &&
      renewAfterMs > 0 &&
      touch.now - (found.tokenIssuedAt ?? found.createdAt) >= renewAfterMs
    ) {
      return renew(found, token, onRenew);
    }
    return toSession(found, token);
  };

  /**
   * The successor token a forward holds, sealed under `token`'s key; null when it does not open (a
   * forward tampered with, or a token that is not the one renewed).
   */
  const successorOf = (forward: ForwardedSession, token: string): string | null => {
    const successor = decryptValue(fieldKeyOf(token), SEALED_TOKEN_NAME, forward.sealedToken);
    return successor !== undefined &&
      isWellFormedToken(successor) &&
      storageIdOf(successor) === forward.forwardedTo
      ? successor
      : null;
  };

  /**
   * The session a renewed token forwards to, loaded with the load's own touch and increments (the
   * forward applied none), its token handed to `onRenew`: every request in flight with the old token
   * gets the same successor.
   */
  const followForward = async (
    forward: ForwardedSession,
    token: string,
    touch: TouchPolicy,
    increments: Record<string, number> | undefined,
    onRenew: LoadOptions<S>["onRenew"],
    hops = 1,
  ): Promise<Session<S> | null> => {
    const successor = successorOf(forward, token);
    if (successor === null) return null;
    const found = await timed("load", () => store.load(forward.forwardedTo, touch, increments));
    if (found === null || typeof found !== "object") return null;
    if (isForwarded(found)) {
      return hops < MAX_FORWARD_HOPS
        ? followForward(found, successor, touch, increments, onRenew, hops + 1)
        : null;
    }
    const session = toSession(found, successor);
    onRenew?.({ token: successor, session });
    return session;
  };

  /**
   * Renews the token of a session just loaded: the session moves to a new token in one store step, the
   * old id forwarding to it for the grace period (the new token sealed under the old one's key, so
   * only a holder of the old token can learn it). When a concurrent request renewed it first, its
   * successor is this request's too.
   */
  const renew = async (
    loadedSession: StoredSession,
    token: string,
    onRenew: NonNullable<LoadOptions<S>["onRenew"]>,
  ): Promise<Session<S> | null> => {
    const oldId = loadedSession.storageId;
    const newToken = generateToken(tagOf(token));
    const forward: RotationForward = {
      sealedToken: encryptValue(fieldKeyOf(token), SEALED_TOKEN_NAME, newToken),
      graceMs: renewGraceMs,
    };
    const moved = await rotateStored(token, oldId, newToken, forward, loadedSession);
    // Ended since the load (a logout, a revocation): the load's answer stands; the token dies with it.
    if (moved === null) return toSession(loadedSession, token);
    // Flash messages this load took are no longer in the store: they stay in its answer.
    const taken = loadedSession.flash;
    if (isForwarded(moved)) {
      // This load's increments were applied before the winner moved the session: not again.
      const followed = await followForward(moved, token, policy(), undefined, onRenew);
      if (followed !== null && taken !== undefined) Object.assign(followed.flash, taken);
      return followed;
    }
    const session = toSession(moved, newToken);
    session.flash = taken ?? {};
    if (wants("renewed")) {
      const previousPublicId = publicIdOfStorageId(oldId);
      emit({ type: "renewed", publicId: session.id, previousPublicId, userId: session.userId });
    }
    onRenew({ token: newToken, session });
    return session;
  };

  /**
   * The session of `oldId` moved to `newToken`'s id (null when it is gone; the forward when the old id
   * already forwards: a concurrent renewal won). With `forward` (a renewal), the old id forwards to the
   * new one for the grace period. With encrypted fields, they are re-encrypted under the new token's
   * key in the rotation's own atomic step, which rewrites them only if they still hold what was read
   * (`first`, the session a renewing load just read, else a load here): a `set` that came between makes
   * the rotation write nothing, and it is tried again on what is there now.
   */
  const rotateStored = async (
    token: string,
    oldId: string,
    newToken: string,
    forward?: RotationForward,
    first?: StoredSession,
  ): Promise<StoredSession | ForwardedSession | null> => {
    const newId = storageIdOf(newToken);
    if (encrypted.length === 0) {
      return timed("rotate", () => store.rotate(oldId, newId, policy(), undefined, forward));
    }
    const oldKey = fieldKeyOf(token);
    const newKey = fieldKeyOf(newToken);
    for (let attempt = 0; attempt < MAX_REKEY_ATTEMPTS; attempt++) {
      const current =
        attempt === 0 && first !== undefined ? first : await timed("load", () => store.load(oldId, policy()));
      if (current === null || typeof current !== "object") return null;
      if (isForwarded(current)) return current;
      const expect: Record<string, string> = {};
      const set: Record<string, string> = {};
      for (const name of encrypted) {
        const value = current.fields[name];
        expect[name] = value ?? "";
        const plaintext = value === undefined ? undefined : decryptValue(oldKey, name, value);
        // One that does not decrypt (tampered with) is dropped: no token could ever read it.
        if (plaintext !== undefined) set[name] = encryptValue(newKey, name, plaintext);
      }
      const rewrite = { expect, set };
      const stored = await timed("rotate", () => store.rotate(oldId, newId, policy(), rewrite, forward));
      if (stored) return stored;
    }
    throw new StoreUnavailableError(
      "latchkey: the session's encrypted fields kept changing during its rotation: try again",
    );
  };

  /**
   * A new token for the session of `token`; for a token renewed moments ago (a forward), for its
   * successor, whose token then dies as the rotation asks.
   */
  const rotateToken = async (token: string | undefined, hops = 0): Promise<CreatedSession<S> | null> => {
    const oldId = idOf(token);
    if (oldId === null) return null;
    const newToken = generateToken(tagOf(token as string));
    const stored = await rotateStored(token as string, oldId, newToken);
    if (!stored) return null;
    if (isForwarded(stored)) {
      const successor = successorOf(stored, token as string);
      return successor === null || hops >= MAX_FORWARD_HOPS ? null : rotateToken(successor, hops + 1);
    }
    const session = toSession(stored, newToken);
    if (wants("rotated")) {
      const previousPublicId = publicIdOfStorageId(oldId);
      emit({ type: "rotated", publicId: session.id, previousPublicId, userId: session.userId });
    }
    return { token: newToken, session };
  };

  /** `fields` (encoded) as stored for `token`: its encrypted fields encrypted under its key. */
  const sealed = (token: string, fields: Record<string, string>): Record<string, string> =>
    encrypted.length === 0 || !encrypted.some((name) => fields[name] !== undefined)
      ? fields
      : encryptFields(fieldKeyOf(token), encrypted, fields);

  /** The storage id of a token, or null when the token cannot be valid (and the store is not asked). */
  const idOf = (token: string | undefined): string | null =>
    isWellFormedToken(token) ? storageIdOf(token) : null;

  /** A create's own lifetimes, checked: whole seconds, within `maxAbsoluteTimeoutSeconds`. */
  const ownLifetimes = (createOptions: CreateSessionOptions<S>): { idleMs?: number; absoluteMs?: number } => {
    const { idleTimeoutSeconds: idle, absoluteTimeoutSeconds: absolute, browserSession } = createOptions;
    if (browserSession !== undefined && typeof browserSession !== "boolean") {
      throw new InvalidArgumentError("browserSession must be true or false");
    }
    const seconds = (name: string, value: unknown, max: number): number =>
      requireWholeArgument(`${name} (seconds)`, value, 1, max) * 1000;
    const absoluteMs =
      absolute === undefined
        ? undefined
        : seconds("absoluteTimeoutSeconds", absolute, maxAbsoluteTimeoutSeconds);
    const idleMs =
      idle === undefined ? undefined : seconds("idleTimeoutSeconds", idle, maxAbsoluteTimeoutSeconds);
    return {
      ...(idleMs === undefined ? {} : { idleMs }),
      ...(absoluteMs === undefined ? {} : { absoluteMs }),
    };
  };

  /**
   * Writes a new session: for `userId`, or anonymous (null) with the anonymous lifetimes and a random
   * slot tag. `carried` fields (already encoded) and flash come from a promoted anonymous session.
   */
  const start = async (
    userId: string | null,
    createOptions: CreateSessionOptions<S>,
    carried: Record<string, string> = {},
    flash?: Record<string, string>,
    /** For a login (`promote`): the public id of the session it replaces, or null for none. */
    promoted?: string | null,
  ): Promise<CreatedSession<S>> => {
    const ip = createOptions.ip ?? "";
    if (typeof ip !== "string" || ip.length > MAX_IP_LENGTH) {
      throw new InvalidArgumentError(`ip must be a string of at most ${MAX_IP_LENGTH} characters`);
    }
    const userAgent = createOptions.userAgent ?? "";
    if (typeof userAgent !== "string") throw new InvalidArgumentError("userAgent must be a string");
    const token = userId === null ? generateToken() : generateToken(userTagOf(userId));
    const fields = sealed(token, { ...carried, ...encodeWithinLimits(createOptions.data ?? {}) });
    const total = Object.entries(fields).reduce(
      (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value),
      0,
    );
    if (total > maxSessionBytes) {
      throw new InvalidArgumentError(
        `the session's fields hold ${total} bytes, over the limit of ${maxSessionBytes} (maxSessionBytes)`,
      );
    }
    const own = ownLifetimes(createOptions);
    const createdAt = now();
    const lifetimeMs = own.absoluteMs ?? (userId === null ? anonymousAbsoluteTimeoutMs : absoluteTimeoutMs);
    const stored: StoredSession = {
      storageId: storageIdOf(token),
      userId: userId ?? "",
      createdAt,
      lastSeenAt: createdAt,
      expiresAt: createdAt + lifetimeMs,
      userAgent: userAgent.slice(0, maxUserAgentLength),
      ip,
      fields,
    };
    const ownIdleMs = own.idleMs ?? (userId === null ? anonymousIdleTimeoutMs : undefined);
    if (ownIdleMs !== undefined) stored.idleTimeoutMs = Math.min(ownIdleMs, lifetimeMs);
    if (createOptions.browserSession === true) stored.browserSession = true;
    if (flash !== undefined) stored.flash = flash;
    const ended = await timed("create", () =>
      store.create(stored, { now: createdAt, idleTimeoutMs, touchIntervalMs, maxSessionsPerUser }),
    );
    const session = toSession(stored, token);
    if (typeof ended === "number" && ended > 0 && wants("destroyed")) {
      emit({ type: "destroyed", reason: "over_cap", publicId: null, userId, count: ended });
    }
    if (promoted === undefined) {
      if (wants("created")) emit({ type: "created", publicId: session.id, userId });
    } else if (wants("promoted")) {
      emit({ type: "promoted", publicId: session.id, userId: userId as string, previousPublicId: promoted });
    }
    return { token, session };
  };

  /** The one check of an increment step: a valid (integer, when declared) field and a safe integer. */
  const integerStep = (field: string, by: unknown): number => {
    assertFieldName(field);
    if (schema && schema[field] !== "integer") {
      throw new InvalidArgumentError(`field "${field}" is not declared as an integer field`);
    }
    if (!Number.isSafeInteger(by))
      throw new InvalidArgumentError(`increment of "${field}" must be a safe integer, got ${String(by)}`);
    return by as number;
  };

  return {
    store,
    idleTimeoutSeconds,
    absoluteTimeoutSeconds,
    renewAfterSeconds,

    async create(userId, createOptions = {}) {
      assertUserId(userId);
      return start(userId, createOptions);
    },

    async createAnonymous(createOptions = {}) {
      return start(null, createOptions);
    },

    async promote(token, userId, promoteOptions = {}) {
      assertUserId(userId);
      const { keep = [], ...createOptions } = promoteOptions;
      for (const name of keep) assertFieldName(name);
      const id = idOf(token);
      // Taken (read and deleted) in one step: the pre-login token is dead before the new one exists.
      const taken = id === null ? null : await timed("take", () => store.take(id, now()));
      const previous = taken === null ? null : publicIdOfStorageId(taken.storageId);
      if (taken === null || taken.userId !== "") return start(userId, createOptions, {}, undefined, previous);
      // Encrypted fields are decrypted with the old token here and encrypted under the new one by `start`.
      const fieldsOfTaken = decryptFields(token, encrypted, taken.fields);
      const carried: Record<string, string> = {};
      for (const name of keep) {
        const value = fieldsOfTaken[name];
        if (value !== undefined) carried[name] = value;
      }
      try {
        return await start(userId, createOptions, carried, taken.flash, previous);
      } catch (error) {
        // Best effort: put the anonymous session back, so that a failed login loses no cart.
        await store
          .create(taken, { now: now(), idleTimeoutMs, touchIntervalMs, maxSessionsPerUser })
          .catch(() => undefined);
        throw error;
      }
    },

    async flash(token, name, text) {
      assertFieldName(name);
      if (typeof text !== "string") throw new InvalidArgumentError("a flash message must be a string");
      if (Buffer.byteLength(text) > maxFieldBytes) {
        throw new InvalidArgumentError(`the flash message is over the limit of ${maxFieldBytes} bytes`);
      }
      const id = idOf(token);
      if (id === null) return false;
      const changes = { flash: { [name]: text }, maxBytes: maxSessionBytes };
      return (await timed("update", () => store.update(id, changes, now()))) !== null;
    },

    async reauthenticate(token) {
      const id = idOf(token);
      if (id === null) return false;
      const at = now();
      const changes = { authenticatedAt: at, maxBytes: maxSessionBytes };
      return (await timed("update", () => store.update(id, changes, at))) !== null;
    },

    // Not async: every page view comes through here, as one `then` on the store's promise.
    load(token, loadOptions) {
      const id = idOf(token);
      const observed = observingLoads();
      if (id === null) return Promise.resolve(observed ? loadMissed("malformed", null) : null);
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
      const touch = loadOptions?.takeFlash ? flashPolicy() : policy();
      const onRenew = loadOptions?.onRenew;
      if (observed) return observedLoad(id, touch, increments, token as string, onRenew);
      // A store may report an expired session by its reason (a string) rather than null.
      return store
        .load(id, touch, increments)
        .then((found) =>
          found !== null && typeof found === "object"
            ? settled(found, token as string, touch, increments, onRenew)
            : null,
        );
    },

    async set(token, data) {
      const id = idOf(token);
      if (id === null) return false;
      const set = sealed(token, encodeWithinLimits(data as Record<string, unknown>));
      return (
        (await timed("update", () => store.update(id, { set, maxBytes: maxSessionBytes }, now()))) !== null
      );
    },

    async unset(token, fieldNames) {
      const id = idOf(token);
      if (id === null) return false;
      for (const name of fieldNames) assertFieldName(name);
      const changes = { remove: fieldNames, maxBytes: maxSessionBytes };
      return (await timed("update", () => store.update(id, changes, now()))) !== null;
    },

    async update(token, data, remove = []) {
      const id = idOf(token);
      if (id === null) return false;
      const set = sealed(token, encodeWithinLimits(data as Record<string, unknown>));
      for (const name of remove) {
        assertFieldName(name);
        if (Object.hasOwn(set, name))
          throw new InvalidArgumentError(`field "${name}" is both set and removed`);
      }
      return (await store.update(id, { set, remove, maxBytes: maxSessionBytes }, now())) !== null;
    },

    async increment(token, field, by = 1) {
      const step = integerStep(field, by);
      const id = idOf(token);
      if (id === null) return null;
      const changes = { increment: { [field]: step }, maxBytes: maxSessionBytes };
      const counted = await timed("update", () => store.update(id, changes, now()));
      return counted === null ? null : (counted[field] ?? null);
    },

    rotate(token) {
      return rotateToken(token);
    },

    async destroy(token) {
      const id = idOf(token);
      if (id === null) return false;
      const ended = await timed("destroy", () => store.destroy(id, now()));
      if (ended && wants("destroyed")) {
        emit({
          type: "destroyed",
          reason: "logout",
          publicId: publicIdOfStorageId(id),
          userId: null,
          count: 1,
        });
      }
      return ended;
    },

    async listForUser(userId) {
      assertUserId(userId);
      const stored = await timed("listForUser", () => store.listForUser(userId, now()));
      return stored.sort((a, b) => a.createdAt - b.createdAt).map((session) => toSession(session));
    },

    async destroyById(userId, publicId) {
      assertUserId(userId);
      if (typeof publicId !== "string" || !PUBLIC_ID_PATTERN.test(publicId)) return false;
      const ended = await timed("destroyById", () => store.destroyById(userId, publicId, now()));
      if (ended && wants("destroyed"))
        emit({ type: "destroyed", reason: "by_id", publicId, userId, count: 1 });
      return ended;
    },

    async destroyForUser(userId, destroyOptions = {}) {
      assertUserId(userId);
      const exceptId = idOf(destroyOptions.exceptToken) ?? undefined;
      const ended = await timed("destroyForUser", () => store.destroyForUser(userId, now(), exceptId));
      if (ended > 0 && wants("destroyed")) {
        emit({ type: "destroyed", reason: "per_user", publicId: null, userId, count: ended });
      }
      return ended;
    },

    publicIdOf(token) {
      const id = idOf(token);
      return id === null ? null : publicIdOfStorageId(id);
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
