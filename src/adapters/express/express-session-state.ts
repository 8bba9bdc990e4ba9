import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidArgumentError } from "../../core/errors.js";
import type { FieldSchema } from "../../core/fields.js";
import type { CreatedSession, Session, SessionManager } from "../../core/session-manager.js";
import { type CookieSettings, cookieNameFor, readCookie, serializeCookie } from "../../http/cookie.js";
import { toHTTPError } from "../../http/http-errors.js";
import {
  changesBetween,
  holdsSomething,
  propertiesOf,
  type StoredProperties,
  storedPropertiesOf,
} from "./express-session-data.js";
import type { ExpressSessionMigration, MigratedSession } from "./express-session-migration.js";
import { ExpressSession, ExpressSessionCookie, type SessionOwner } from "./express-session-object.js";
import { setSessionCookie } from "./response-cookie.js";

/** What the drop-in adds to the request: `session` (until destroyed). */
export interface DropInRequest extends IncomingMessage {
  session?: ExpressSession;
}

export interface RequestSettings {
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
export class RequestState implements SessionOwner {
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
  async start(migration: ExpressSessionMigration | undefined): Promise<void> {
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
    // With renewal on, a token due for it is replaced here, before the handler runs: the new cookie
    // goes out with this response, and `req.sessionID` is the new session's.
    let current = token;
    const onRenew =
      sessions.renewAfterSeconds > 0
        ? (renewed: CreatedSession<FieldSchema>): void => {
            current = renewed.token;
            this.#setCookie(renewed);
          }
        : undefined;
    const session = token === undefined ? null : await sessions.load(token, onRenew && { onRenew });
    if (session === null) {
      // A cookie that names no session is stale: ask the browser to stop sending it.
      if (token !== undefined) this.#clearCookie();
      this.#startNew();
      return;
    }
    this.#bind(current as string, session);
  }

  regenerate(): Promise<void> {
    return this.#enqueue(async () => {
      const token = this.#token;
      if (token !== undefined && !this.#ended) await this.#settings.sessions.destroy(token);
      if (token !== undefined) this.#clearCookie();
      this.#ended = false;
      this.#failed = false;
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
        // Its cookie could no longer reach the browser once the headers are out: the logout stands alone.
        if (holdsSomething(current) && !this.#res.headersSent) await this.#create(null, current);
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
      this.#assertCookieCanGo();
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
    this.#assertCookieCanGo();
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

  /** A new token must reach the browser: not possible once the response's headers are sent. */
  #assertCookieCanGo(): void {
    if (this.#res.headersSent) {
      throw new InvalidArgumentError(
        "req.session needs a new cookie (a new session, or a new user) but the response's headers were already sent: call req.session.save(callback) before writing the response",
      );
    }
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
