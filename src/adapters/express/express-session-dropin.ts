import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { InvalidOptionError } from "../../core/errors.js";
import type { FieldSchema } from "../../core/fields.js";
import type { CreatedSession, Session, SessionManager } from "../../core/session-manager.js";
import type { SessionFields } from "../../core/session-types.js";
import { resolveAdapterOptions } from "../../http/adapter-options.js";
import {
  type CookieSettings,
  cookieNameFor,
  isSecureCookie,
  readCookie,
  type SessionCookieOptions,
  serializeCookie,
} from "../../http/cookie.js";
import { clientIP, isHTTPS, resolveTrustProxy, type TrustProxy } from "../../http/forwarded.js";
import { toHTTPError } from "../../http/http-errors.js";
import {
  changesBetween,
  holdsSomething,
  passportUserOf,
  propertiesOf,
  type StoredProperties,
  storedPropertiesOf,
} from "./express-session-data.js";
import {
  createExpressSessionMigration,
  type ExpressSessionMigrationOptions,
  type MigratedSession,
} from "./express-session-migration.js";
import { ExpressSession, ExpressSessionCookie, type SessionOwner } from "./express-session-object.js";
import { setSessionCookie } from "./response-cookie.js";

export interface ExpressSessionOptions extends SessionCookieOptions {
  /**
   * The session engine, created without `fields`: every top-level property of `req.session` is one
   * field holding its JSON.
   */
  sessions: SessionManager<SessionFields>;
  /**
   * The user a session belongs to, read after every change: the session is stored under that user, so
   * that `listForUser`, `destroyById` and `destroyForUser` find it. Default: Passport's
   * `req.session.passport.user` (a string, a number, or an object with such an `id`).
   */
  userOf?: (session: Readonly<Record<string, unknown>>) => string | undefined;
  /**
   * Carries users over from express-session (connect-redis or another store) with no one signed out:
   * as the `latchkey()` option of that name. `convert` defaults to keeping every property of the old
   * session, under the user `userOf` finds in it (a visitor without one is dropped).
   */
  migrateExpressSession?: Omit<ExpressSessionMigrationOptions, "convert"> &
    Partial<Pick<ExpressSessionMigrationOptions, "convert">>;
  /** As the `latchkey()` option: whether `X-Forwarded-Proto` and `X-Forwarded-For` are believed. */
  trustProxy?: TrustProxy;
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** What the drop-in adds to the request: `session` (until destroyed) and `sessionID`. */
interface DropInRequest extends IncomingMessage {
  session?: ExpressSession;
}

/**
 * express-session's `req.session` on latchkey's engine, for Passport, connect-flash and other
 * middleware written against express-session: plain properties, `regenerate`, `save`, `destroy`,
 * `reload`, `touch`, `id` (the public id, never the token), `cookie`, and `req.sessionID`.
 *
 * A request whose cookie names a session loads it before the next middleware (one store round trip,
 * which refreshes its idle timer); a request without one costs no store call. Before the response is
 * sent, what the request changed is written: the top-level properties it set, changed or deleted, in one
 * atomic update, so concurrent requests changing different properties both land, and a session ended
 * meanwhile (a logout, `destroyForUser`) is not brought back. A new session is stored, and its cookie
 * set, only once it holds something. The session is stored under `userOf(session)` (Passport's user by
 * default), so a Passport login creates it in that user's index, with a fresh token, and a Passport
 * logout ends it. A property JSON cannot hold, a session over `maxSessionBytes` or a store outage reaches
 * Express's error handler (500, or 503 for an outage) with nothing written.
 *
 * @example
 * app.use(expressSession({ sessions: createSessionManager({ store: createRedisStore({ client }) }) }));
 * app.use(passport.session());
 * app.post("/login", passport.authenticate("local", { successRedirect: "/", failureRedirect: "/login" }));
 */
export function expressSession(options: ExpressSessionOptions): Middleware {
  const { sessions, cookie } = resolveAdapterOptions(options);
  const { userOf = passportUserOf } = options;
  if (typeof userOf !== "function") {
    throw new InvalidOptionError("userOf", "must be a function (session) => user id or undefined");
  }
  const hops = resolveTrustProxy(options.trustProxy);
  const migration =
    options.migrateExpressSession === undefined
      ? undefined
      : createExpressSessionMigration(
          {
            convert: (old) => {
              const userId = userOf(old);
              const data = Object.fromEntries(storedPropertiesOf(old));
              return userId === undefined ? null : { userId, data };
            },
            ...options.migrateExpressSession,
          },
          sessions,
        );

  return function latchkeyExpressSession(req: DropInRequest, res, next) {
    const https = isHTTPS(
      (req.socket as Partial<TLSSocket>).encrypted === true,
      req.headers["x-forwarded-proto"],
      hops,
    );
    const state = new RequestState(req, res, {
      sessions: sessions as unknown as SessionManager<FieldSchema>,
      cookie,
      secure: isSecureCookie(cookie, https),
      userOf,
      ip: () => clientIP(req.socket.remoteAddress, req.headers["x-forwarded-for"], hops),
    });
    Object.defineProperty(req, "sessionID", {
      configurable: true,
      enumerable: false,
      get: () => state.publicId,
    });
    commitBeforeEnd(res, state, next);
    state.start(migration).then(
      () => next(),
      (error: unknown) => next(toHTTPError(error)),
    );
  };
}

interface RequestSettings {
  /** Seen without a schema: the drop-in's fields are the properties of `req.session`, as JSON. */
  sessions: SessionManager<FieldSchema>;
  cookie: CookieSettings;
  secure: boolean;
  userOf: (session: Readonly<Record<string, unknown>>) => string | undefined;
  ip(): string;
}

/**
 * One request's session: the stored session it is bound to (its token, user and the properties as
 * loaded), and the object handlers see. Store calls run one at a time, in the order they were asked.
 */
class RequestState implements SessionOwner {
  readonly #req: DropInRequest;
  readonly #res: ServerResponse;
  readonly #settings: RequestSettings;
  readonly #cookieName: string;
  /** The token of the stored session; undefined while the session is new (or after it ended). */
  #token: string | undefined;
  #publicId: string | undefined;
  /** The user it is stored under; null when anonymous or new. */
  #userId: string | null = null;
  #loaded: StoredProperties = new Map();
  /** The request's session ended in the store (elsewhere, or by `destroy`): nothing more is written. */
  #ended = false;
  /** A `save()` of this request failed (nothing of it was written). */
  #failed = false;
  #queue: Promise<void> = Promise.resolve();

  constructor(req: DropInRequest, res: ServerResponse, settings: RequestSettings) {
    this.#req = req;
    this.#res = res;
    this.#settings = settings;
    this.#cookieName = cookieNameFor(settings.cookie, settings.secure);
  }

  get publicId(): string | undefined {
    return this.#publicId;
  }

  /** Loads the session the cookie names (or migrates an express-session one) and sets `req.session`. */
  async start(migration: ReturnType<typeof createExpressSessionMigration> | undefined): Promise<void> {
    const { sessions } = this.#settings;
    const token = readCookie(this.#req.headers.cookie, this.#cookieName);
    if (token === undefined && migration?.applies(this.#req)) {
      const withRequest = (migrated: MigratedSession): MigratedSession => ({
        ...migrated,
        userAgent: migrated.userAgent ?? this.#userAgent(),
        ip: migrated.ip ?? this.#settings.ip(),
      });
      const { created, clearOldCookie } = await migration.migrate(this.#req, withRequest);
      if (clearOldCookie) setSessionCookie(this.#res, clearOldCookie);
      if (created) {
        this.#bind(created.token, created.session);
        this.#setCookie(created);
        return;
      }
    }
    const session = token === undefined ? null : await sessions.load(token);
    if (session === null) {
      // A cookie that names no session is stale: ask the browser to stop sending it.
      if (token !== undefined) this.#clearCookie();
      this.#startNew();
      return;
    }
    this.#bind(token as string, session);
  }

  regenerate(): Promise<void> {
    return this.#enqueue(async () => {
      const token = this.#token;
      if (token !== undefined && !this.#ended) await this.#settings.sessions.destroy(token);
      if (token !== undefined) this.#clearCookie();
      this.#ended = false;
      this.#startNew();
    });
  }

  save(): Promise<void> {
    return this.#enqueue(() =>
      this.#commit().catch((error: unknown) => {
        this.#failed = true;
        throw error;
      }),
    );
  }

  destroy(): Promise<void> {
    return this.#enqueue(async () => {
      const token = this.#token;
      if (token !== undefined && !this.#ended) await this.#settings.sessions.destroy(token);
      if (token !== undefined) this.#clearCookie();
      this.#unbind();
      this.#ended = true;
      delete this.#req.session;
    });
  }

  reload(): Promise<void> {
    return this.#enqueue(async () => {
      const token = this.#token;
      const session = token === undefined || this.#ended ? null : await this.#settings.sessions.load(token);
      if (session === null) throw new Error("failed to load session");
      this.#bind(token as string, session);
    });
  }

  /**
   * Writes what the request changed, before the response is sent. Not after a write of this request
   * failed: its error went to the caller (Passport passes it on to Express's error handler), and the
   * error page must not try the same write again.
   */
  commitBeforeEnd(): Promise<void> {
    return this.#enqueue(() => (this.#failed ? Promise.resolve() : this.#commit()));
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(step).catch((error: unknown) => {
      throw toHTTPError(error);
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #commit(): Promise<void> {
    const session = this.#req.session;
    // Destroyed, replaced by the application, or ended elsewhere: nothing to write, nothing brought back.
    if (this.#ended || !(session instanceof ExpressSession)) return;
    const { sessions, userOf } = this.#settings;
    const current = storedPropertiesOf(session);
    const user = userOf(session) ?? null;
    const token = this.#token;
    if (token === undefined) {
      if (holdsSomething(current)) await this.#create(user, current);
      return;
    }
    if (user !== this.#userId) {
      if (user === null) {
        // Signed out without a regenerate: the user's session ends; what is left starts an anonymous one.
        await sessions.destroy(token);
        this.#clearCookie();
        this.#unbind();
        if (holdsSomething(current)) await this.#create(null, current);
        return;
      }
      // Signed in (or as someone else): a session in the user's index with a fresh token; an anonymous
      // session's unchanged properties carry over as stored (another request may have changed them).
      const { set, remove } = changesBetween(this.#loaded, current);
      const keep =
        this.#userId === null
          ? [...this.#loaded.keys()].filter((name) => !(name in set) && !remove.includes(name))
          : [];
      const data = this.#userId === null ? set : Object.fromEntries(current);
      const created = await sessions.promote(token, user, { keep, data, ...this.#client() });
      this.#adopt(created);
      return;
    }
    const { set, remove } = changesBetween(this.#loaded, current);
    if (Object.keys(set).length === 0 && remove.length === 0) return;
    if (await sessions.update(token, set, remove)) {
      this.#loaded = current;
      return;
    }
    // Ended meanwhile (a logout, destroyForUser): nothing is written, and the cookie goes.
    this.#ended = true;
    this.#clearCookie();
  }

  async #create(user: string | null, properties: StoredProperties): Promise<void> {
    const { sessions } = this.#settings;
    const options = { data: Object.fromEntries(properties), ...this.#client() };
    this.#adopt(
      user === null ? await sessions.createAnonymous(options) : await sessions.create(user, options),
    );
  }

  #adopt(created: CreatedSession<FieldSchema>): void {
    this.#token = created.token;
    this.#publicId = created.session.id;
    this.#userId = created.session.userId;
    this.#loaded = storedPropertiesOf(propertiesOf(created.session.data));
    this.#setCookie(created);
    const session = this.#req.session;
    if (session instanceof ExpressSession) session.cookie = this.#cookieOf(created.session);
  }

  #client(): { userAgent: string; ip: string } {
    return { userAgent: this.#userAgent(), ip: this.#settings.ip() };
  }

  #userAgent(): string {
    return this.#req.headers["user-agent"] ?? "";
  }

  /** Binds the request to a stored session and gives handlers its data as `req.session`. */
  #bind(token: string, session: Session<FieldSchema>): void {
    this.#token = token;
    this.#publicId = session.id;
    this.#userId = session.userId;
    const properties = propertiesOf(session.data);
    this.#loaded = storedPropertiesOf(properties);
    this.#req.session = new ExpressSession(this, properties, this.#cookieOf(session));
  }

  /** A new, empty session, stored once it holds something. */
  #startNew(): void {
    this.#unbind();
    this.#req.session = new ExpressSession(this, {}, this.#cookieOf(null));
  }

  #unbind(): void {
    this.#token = undefined;
    this.#publicId = undefined;
    this.#userId = null;
    this.#loaded = new Map();
  }

  #cookieOf(session: Session<FieldSchema> | null): ExpressSessionCookie {
    const { path, domain, sameSite, partitioned } = this.#settings.cookie;
    const persistent = session !== null && !session.browserSession;
    return new ExpressSessionCookie({
      path,
      domain,
      sameSite,
      partitioned,
      secure: this.#settings.secure,
      expires: persistent ? session.expiresAt : null,
      originalMaxAge: persistent ? session.expiresAt.getTime() - session.createdAt.getTime() : null,
    });
  }

  #setCookie({ token, session }: CreatedSession<FieldSchema>): void {
    // A browser-session cookie has no Max-Age; otherwise it lives as long as the session can.
    const maxAge = session.browserSession ? undefined : (session.expiresAt.getTime() - Date.now()) / 1000;
    setSessionCookie(this.#res, serializeCookie(this.#cookieName, token, this.#attributes(maxAge)));
  }

  #clearCookie(): void {
    setSessionCookie(this.#res, serializeCookie(this.#cookieName, "", this.#attributes(0)));
  }

  #attributes(maxAgeSeconds: number | undefined) {
    const { sameSite, path, domain, partitioned } = this.#settings.cookie;
    return { secure: this.#settings.secure, maxAgeSeconds, sameSite, path, domain, partitioned };
  }
}

/**
 * Holds `res.end` until what the request changed is written, as express-session does, so that the
 * cookie of a session started by this request goes out with the response and a later request sees the
 * changes. When the write fails (a property JSON cannot hold, over `maxSessionBytes`, the store down),
 * the response is not sent: the error goes to Express's error handler instead (500, or 503), and nothing
 * of the change is stored.
 */
function commitBeforeEnd(res: ServerResponse, state: RequestState, next: (error?: unknown) => void): void {
  const end = res.end;
  let ending = false;
  res.end = function endAfterCommit(this: ServerResponse, ...args: unknown[]) {
    if (ending) return end.apply(this, args as Parameters<typeof end>);
    ending = true;
    state.commitBeforeEnd().then(
      () => {
        res.end = end;
        end.apply(res, args as Parameters<typeof end>);
      },
      (error: unknown) => {
        res.end = end;
        if (!res.headersSent) {
          // The handler's response (its redirect, its body) would claim a success that was not stored.
          for (const name of res.getHeaderNames()) if (name !== "set-cookie") res.removeHeader(name);
          res.setHeader("cache-control", "no-store");
        }
        next(error);
      },
    );
    return res;
  } as typeof res.end;
}
