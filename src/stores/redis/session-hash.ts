import type { ForwardedSession, StoredSession } from "../../core/session-store.js";

/**
 * Names of the reserved hash fields that hold a session's metadata: the one table of the Redis hash
 * encoding, which the Lua scripts (`lua.ts`) take their field names from. They start with "$", which
 * field names the manager accepts may not, and are short because every session pays for them in memory.
 */
export const HASH_FIELDS = {
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
  /** When the user last re-authenticated (ms), once they have; absent: at `$c` (the login). */
  authenticatedAt: "$r",
  /** When the session's current token was issued (ms), once it has been rotated; absent: at `$c`. */
  tokenIssuedAt: "$k",
  /**
   * A forward's (the key of a token renewed less than its grace period ago, see ROTATE_SESSION): the
   * successor's storage id. A forward holds only this and `forwardSealedToken`, never `$e`.
   */
  forwardedTo: "$s",
  /** A forward's: the successor's token, sealed by the manager (`RotationForward.sealedToken`). */
  forwardSealedToken: "$x",
} as const;

/** What every field of the store's own starts with: a session's fields are the hash's other fields. */
export const RESERVED_FIELD_PREFIX = "$";

/** Prefix of the hash fields that hold flash messages: `$f:<name>`. */
export const FLASH_FIELD_PREFIX = "$f:";

/**
 * A session as a flat Redis hash: the HASH_FIELDS plus the user's own fields and flash messages
 * (`$f:<name>`). The user id (absent: anonymous), user agent, IP and own idle timeout are left out when
 * empty, to save the memory every session would pay for them.
 */
export function sessionToHash(session: StoredSession): string[] {
  const flat: string[] = [];
  if (session.userId) flat.push(HASH_FIELDS.userId, session.userId);
  flat.push(
    HASH_FIELDS.createdAt,
    String(session.createdAt),
    HASH_FIELDS.lastSeenAt,
    String(session.lastSeenAt),
    HASH_FIELDS.expiresAt,
    String(session.expiresAt),
  );
  if (session.userAgent) flat.push(HASH_FIELDS.userAgent, session.userAgent);
  if (session.ip) flat.push(HASH_FIELDS.ip, session.ip);
  if (session.idleTimeoutMs !== undefined) flat.push(HASH_FIELDS.idleTimeout, String(session.idleTimeoutMs));
  if (session.browserSession) flat.push(HASH_FIELDS.browserSession, "1");
  if (session.authenticatedAt !== undefined) {
    flat.push(HASH_FIELDS.authenticatedAt, String(session.authenticatedAt));
  }
  if (session.tokenIssuedAt !== undefined) {
    flat.push(HASH_FIELDS.tokenIssuedAt, String(session.tokenIssuedAt));
  }
  for (const [name, text] of Object.entries(session.flash ?? {})) flat.push(FLASH_FIELD_PREFIX + name, text);
  for (const [name, value] of Object.entries(session.fields)) flat.push(name, value);
  return flat;
}

/**
 * Reads back a hash from HGETALL or the load script (`[field, value, field, value, ...]`). Flash
 * messages are returned only with `withFlash` (a load that took them).
 */
export function sessionFromHash(
  storageId: string,
  flat: readonly string[],
  withFlash = false,
): StoredSession {
  const session: StoredSession = {
    storageId,
    userId: "",
    createdAt: 0,
    lastSeenAt: 0,
    expiresAt: 0,
    userAgent: "",
    ip: "",
    fields: {},
  };
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i] as string;
    const value = flat[i + 1] as string;
    switch (name) {
      case HASH_FIELDS.userId:
        session.userId = value;
        break;
      case HASH_FIELDS.createdAt:
        session.createdAt = Number(value);
        break;
      case HASH_FIELDS.lastSeenAt:
        session.lastSeenAt = Number(value);
        break;
      case HASH_FIELDS.expiresAt:
        session.expiresAt = Number(value);
        break;
      case HASH_FIELDS.userAgent:
        session.userAgent = value;
        break;
      case HASH_FIELDS.ip:
        session.ip = value;
        break;
      case HASH_FIELDS.idleTimeout:
        session.idleTimeoutMs = Number(value);
        break;
      case HASH_FIELDS.browserSession:
        session.browserSession = value === "1";
        break;
      case HASH_FIELDS.authenticatedAt:
        session.authenticatedAt = Number(value);
        break;
      case HASH_FIELDS.tokenIssuedAt:
        session.tokenIssuedAt = Number(value);
        break;
      default:
        if (!name.startsWith(RESERVED_FIELD_PREFIX)) session.fields[name] = value;
        else if (withFlash && name.startsWith(FLASH_FIELD_PREFIX)) {
          session.flash ??= {};
          session.flash[name.slice(FLASH_FIELD_PREFIX.length)] = value;
        }
    }
  }
  return session;
}

/**
 * Reads back a forward as the scripts reply with it (load, rotate): `[$s, successor id, $x, sealed
 * token]`, always in that order (the scripts build the reply; HGETALL's order is not relied on).
 */
export function forwardFromReply(reply: readonly string[]): ForwardedSession {
  return { forwardedTo: reply[1] as string, sealedToken: reply[3] as string };
}

/** True for a script's reply that is a forward (`$s` first: a session's never holds `$s`). */
export function isForwardReply(reply: readonly string[]): boolean {
  return reply[0] === HASH_FIELDS.forwardedTo;
}
