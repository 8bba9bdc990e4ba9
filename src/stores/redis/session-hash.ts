import { InvalidArgumentError } from "../../core/errors.js";
import { FLASH_FIELD_PREFIX, META_FIELDS, type StoredSession } from "../../core/session-store.js";

/**
 * A session as a flat Redis hash: the META_FIELDS plus the user's own fields and flash messages
 * (`$f:<name>`). The user id (absent: anonymous), user agent, IP and own idle timeout are left out when
 * empty, to save the memory every session would pay for them.
 */
export function sessionToHash(session: StoredSession): string[] {
  const flat: string[] = [];
  if (session.userId) flat.push(META_FIELDS.userId, session.userId);
  flat.push(
    META_FIELDS.createdAt,
    String(session.createdAt),
    META_FIELDS.lastSeenAt,
    String(session.lastSeenAt),
    META_FIELDS.expiresAt,
    String(session.expiresAt),
  );
  if (session.userAgent) flat.push(META_FIELDS.userAgent, session.userAgent);
  if (session.ip) flat.push(META_FIELDS.ip, session.ip);
  if (session.idleTimeoutMs !== undefined) flat.push(META_FIELDS.idleTimeout, String(session.idleTimeoutMs));
  if (session.browserSession) flat.push(META_FIELDS.browserSession, "1");
  for (const [name, text] of Object.entries(session.flash ?? {})) flat.push(FLASH_FIELD_PREFIX + name, text);
  for (const [name, value] of Object.entries(session.fields)) {
    assertUserField(name);
    flat.push(name, value);
  }
  return flat;
}

/**
 * Reads back a hash from HGETALL or the load script (`[field, value, field, value, ...]`). Flash
 * messages are returned only with `withFlash` (a load that took them).
 */
export function sessionFromHash(id: string, flat: readonly string[], withFlash = false): StoredSession {
  const session: StoredSession = {
    id,
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
      case META_FIELDS.userId:
        session.userId = value;
        break;
      case META_FIELDS.createdAt:
        session.createdAt = Number(value);
        break;
      case META_FIELDS.lastSeenAt:
        session.lastSeenAt = Number(value);
        break;
      case META_FIELDS.expiresAt:
        session.expiresAt = Number(value);
        break;
      case META_FIELDS.userAgent:
        session.userAgent = value;
        break;
      case META_FIELDS.ip:
        session.ip = value;
        break;
      case META_FIELDS.idleTimeout:
        session.idleTimeoutMs = Number(value);
        break;
      case META_FIELDS.browserSession:
        session.browserSession = value === "1";
        break;
      default:
        if (!name.startsWith("$")) session.fields[name] = value;
        else if (withFlash && name.startsWith(FLASH_FIELD_PREFIX)) {
          session.flash ??= {};
          session.flash[name.slice(FLASH_FIELD_PREFIX.length)] = value;
        }
    }
  }
  return session;
}

/** Names starting with "$" are the store's own; the session manager never passes them, this makes sure. */
export function assertUserField(name: string): void {
  if (name.startsWith("$")) {
    throw new InvalidArgumentError(
      `field name ${JSON.stringify(name)} is reserved: names starting with "$" hold session metadata`,
    );
  }
}
