import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { InvalidOptionError, StoreUnavailableError } from "../../core/errors.js";
import type { CreatedSession, CreateSessionOptions, SessionManager } from "../../core/session-manager.js";
import type { SessionFields } from "../../core/session-types.js";
import { isWholeNumber } from "../../core/whole-number.js";
import { isValidCookieName, readCookie, serializeCookie } from "../../http/cookie.js";
import { verifySignedSessionId } from "./signed-cookie.js";

/**
 * Switching from express-session without logging anyone out: a request that brings a valid signed
 * express-session cookie and no latchkey cookie gets a latchkey session made from the old one, and the
 * old session is deleted and its cookie cleared in the same response.
 */

/** What the migration needs of the old express-session store: connect-redis's `RedisStore`, or any other. */
export interface ExpressSessionStoreLike {
  get(sid: string, callback: (error: unknown, session?: unknown) => void): unknown;
  destroy(sid: string, callback: (error?: unknown) => void): unknown;
}

/** The latchkey session an old session becomes: its user, and what to carry over. */
export interface MigratedSession extends CreateSessionOptions<SessionFields> {
  userId: string;
}

export interface ExpressSessionMigrationOptions {
  /** The store express-session used, e.g. `new RedisStore({ client })` from connect-redis (same Redis or another). */
  store: ExpressSessionStoreLike;
  /**
   * express-session's `secret`: the secret, or the list of secrets, old cookies may be signed with. A
   * cookie no secret verifies is ignored.
   */
  secret: string | readonly string[];
  /**
   * Turns an old session (express-session's object, with its `cookie`) into a latchkey one: the user
   * and the fields to keep, or null to drop it (a visitor who never logged in). With passport:
   * `(old) => old.passport?.user ? { userId: String(old.passport.user) } : null`.
   */
  convert(
    old: Record<string, unknown>,
    request: IncomingMessage,
  ): MigratedSession | null | Promise<MigratedSession | null>;
  /** express-session's `name`, default "connect.sid". */
  cookieName?: string;
  /** The old cookie's `path` and `domain`, so that clearing it replaces it: default "/" and none. */
  cookiePath?: string;
  cookieDomain?: string;
  /** Longest wait for the old store, default 2000 ms: beyond it the request fails with 503. */
  timeoutMs?: number;
}

/** The outcome for one request. */
export interface MigrationOutcome {
  /** The latchkey session the request now has, if any. */
  created: CreatedSession<SessionFields> | null;
  /** The Set-Cookie value that clears the old cookie, when it should go. */
  clearOldCookie: string | null;
}

export interface ExpressSessionMigration {
  /** Whether the request brings an old cookie at all (a cheap check: no crypto, no store call). */
  applies(request: IncomingMessage): boolean;
  /** Migrates the request's old session, if it has a valid one. Store failures reject. */
  migrate(
    request: IncomingMessage,
    withRequest: (options: MigratedSession) => MigratedSession,
  ): Promise<MigrationOutcome>;
}

/** How long the hand-off record lets concurrent requests with the same old cookie find the new session. */
const HANDOFF_TTL_MS = 60_000;
const HANDOFF_PREFIX = "express-session-migration:";

/**
 * Checks the options once and returns the migration step the Express adapter runs. Concurrent requests
 * with the same old cookie, in one process or many, end with one latchkey session: the first to write a
 * hand-off record (keyed by an HMAC of the old sid, with a TTL) wins; the others drop the session they
 * made and take the winner's, whose token the record holds sealed (AES-256-GCM) under a key only the
 * old cookie and the app's secret can derive. The token is never stored in clear.
 */
export function createExpressSessionMigration(
  options: ExpressSessionMigrationOptions,
  sessions: SessionManager<SessionFields>,
): ExpressSessionMigration {
  const settings = resolveMigrationOptions(options);
  const { store, convert, cookieName, timeoutMs } = settings;
  const records = sessions.store.records;
  if (records === undefined) {
    // The hand-off record is what lets concurrent requests with one old cookie share one session.
    throw new InvalidOptionError(
      "migrateExpressSession",
      `needs a store with records (the memory and Redis stores have them; this "${sessions.store.kind}" store does not)`,
    );
  }
  const inFlight = new Map<string, Promise<MigrationOutcome>>();
  const clearOldCookie = serializeCookie(cookieName, "", {
    secure: false,
    maxAgeSeconds: 0,
    path: settings.cookiePath,
    domain: settings.cookieDomain,
  });
  const none = (clear: boolean): MigrationOutcome => ({
    created: null,
    clearOldCookie: clear ? clearOldCookie : null,
  });

  const withTimeout = <T>(
    what: string,
    call: (done: (error: unknown, value?: T) => void) => unknown,
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new StoreUnavailableError(
              `latchkey: the express-session store did not answer ${what} within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      const done = (error: unknown, value?: T) => {
        clearTimeout(timer);
        if (error) {
          reject(
            new StoreUnavailableError(`latchkey: the express-session store failed ${what}`, { cause: error }),
          );
        } else resolve(value as T);
      };
      try {
        call(done);
      } catch (error) {
        done(error);
      }
    });

  const readOld = async (sid: string): Promise<Record<string, unknown> | null> => {
    const old = await withTimeout<unknown>("get", (done) => store.get(sid, done));
    if (typeof old !== "object" || old === null) return null;
    // express-session checks this itself for stores that keep expired sessions; so does the migration.
    const expires = (old as { cookie?: { expires?: unknown } }).cookie?.expires;
    if (expires !== undefined && expires !== null && new Date(expires as string).getTime() <= Date.now())
      return null;
    return old as Record<string, unknown>;
  };
  const deleteOld = (sid: string) => withTimeout<void>("destroy", (done) => store.destroy(sid, done));

  /** The winner's session, from the hand-off record, if it is still live. */
  const handedOff = async (keys: HandoffKeys): Promise<CreatedSession<SessionFields> | null> => {
    const record = await records.get(keys.recordKey);
    const token = record?.sealed === undefined ? null : unseal(record.sealed, keys.sealKey);
    if (token === null) return null;
    const session = await sessions.load(token);
    return session === null ? null : { token, session };
  };

  const run = async (
    sid: string,
    keys: HandoffKeys,
    request: IncomingMessage,
    withRequest: (options: MigratedSession) => MigratedSession,
  ): Promise<MigrationOutcome> => {
    // Another request (here or in another process) may already have migrated this cookie.
    const earlier = await handedOff(keys);
    if (earlier) return { created: earlier, clearOldCookie };
    const old = await readOld(sid);
    if (old === null) {
      // Migrated meanwhile (the hand-off is written before the old session is deleted), or unknown,
      // expired, or migrated so long ago that the hand-off is gone: then the cookie is of no use.
      const meanwhile = await handedOff(keys);
      return meanwhile ? { created: meanwhile, clearOldCookie } : none(true);
    }
    const migrated = await convert(old, request);
    if (migrated === null) {
      await deleteOld(sid);
      return none(true);
    }
    const { userId, ...createOptions } = withRequest(migrated);
    const created = await sessions.create(userId, createOptions);
    const won = await records.insert(
      keys.recordKey,
      { sealed: seal(created.token, keys.sealKey) },
      { ttlMs: HANDOFF_TTL_MS },
    );
    if (!won) {
      // A concurrent request won: take its session, so the user ends with one.
      await sessions.destroy(created.token);
      const winner = await handedOff(keys);
      return winner ? { created: winner, clearOldCookie } : none(true);
    }
    // Only after the hand-off exists: a request that finds the old session gone then finds the new one.
    await deleteOld(sid);
    return { created, clearOldCookie };
  };

  return {
    applies(request) {
      return readCookie(request.headers.cookie, cookieName) !== undefined;
    },
    async migrate(request, withRequest) {
      const verified = verifySignedSessionId(
        readCookie(request.headers.cookie, cookieName),
        settings.secrets,
      );
      // Forged or unsigned: ignored, as express-session ignores it (and not cleared: it is not ours).
      if (verified === null) return none(false);
      const pending = inFlight.get(verified.sid);
      if (pending) return pending;
      const outcome = run(verified.sid, handoffKeysOf(verified.sid, verified.secret), request, withRequest);
      inFlight.set(verified.sid, outcome);
      try {
        return await outcome;
      } finally {
        inFlight.delete(verified.sid);
      }
    },
  };
}

interface ResolvedMigrationOptions {
  store: ExpressSessionStoreLike;
  convert: ExpressSessionMigrationOptions["convert"];
  secrets: readonly string[];
  cookieName: string;
  cookiePath: string;
  cookieDomain: string | undefined;
  timeoutMs: number;
}

function resolveMigrationOptions(options: ExpressSessionMigrationOptions): ResolvedMigrationOptions {
  const option = (name: string) => `migrateExpressSession.${name}`;
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError("migrateExpressSession", "must be { store, secret, convert }");
  }
  const {
    store,
    convert,
    secret,
    cookieName = "connect.sid",
    cookiePath = "/",
    cookieDomain,
    timeoutMs = 2000,
  } = options;
  if (typeof store?.get !== "function" || typeof store?.destroy !== "function") {
    throw new InvalidOptionError(
      option("store"),
      "must be the express-session store (with get and destroy), e.g. connect-redis's RedisStore",
    );
  }
  if (typeof convert !== "function") {
    throw new InvalidOptionError(
      option("convert"),
      "must be a function (old session) => { userId, data } | null",
    );
  }
  const secrets = typeof secret === "string" ? [secret] : secret;
  if (
    !Array.isArray(secrets) ||
    secrets.length === 0 ||
    !secrets.every((s) => typeof s === "string" && s.length > 0)
  ) {
    throw new InvalidOptionError(
      option("secret"),
      "must be express-session's secret: a non-empty string or array of them",
    );
  }
  if (!isValidCookieName(cookieName)) {
    throw new InvalidOptionError(
      option("cookieName"),
      `must be a cookie name, got ${JSON.stringify(cookieName)}`,
    );
  }
  if (typeof cookiePath !== "string" || !/^\/[!-:<-~]*$/.test(cookiePath)) {
    throw new InvalidOptionError(
      option("cookiePath"),
      `must be a cookie path such as "/", got ${JSON.stringify(cookiePath)}`,
    );
  }
  if (
    cookieDomain !== undefined &&
    (typeof cookieDomain !== "string" || !/^\.?[A-Za-z0-9.-]{1,253}$/.test(cookieDomain))
  ) {
    throw new InvalidOptionError(
      option("cookieDomain"),
      `must be a host name, got ${JSON.stringify(cookieDomain)}`,
    );
  }
  if (!isWholeNumber(timeoutMs, 1, 60_000)) {
    throw new InvalidOptionError(
      option("timeoutMs"),
      "must be a whole number of milliseconds from 1 to 60000",
    );
  }
  return { store, convert, secrets: [...secrets], cookieName, cookiePath, cookieDomain, timeoutMs };
}

interface HandoffKeys {
  recordKey: string;
  sealKey: Buffer;
}

/**
 * The hand-off record's key and sealing key, both HMACs of the old sid under the secret that verified
 * its cookie: whoever reads the store (where connect-redis kept the sid in clear) still cannot open it.
 */
function handoffKeysOf(sid: string, secret: string): HandoffKeys {
  const mac = (label: string) => createHmac("sha256", secret).update(`latchkey-migration:${label}:${sid}`);
  return { recordKey: HANDOFF_PREFIX + mac("record").digest("base64url"), sealKey: mac("seal").digest() };
}

function seal(token: string, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
}

/** The sealed token, or null when it does not open with `key` (another secret, a tampered record). */
function unseal(sealed: string, key: Buffer): string | null {
  const bytes = Buffer.from(sealed, "base64url");
  if (bytes.length <= 28) return null;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8");
  } catch {
    return null;
  }
}
