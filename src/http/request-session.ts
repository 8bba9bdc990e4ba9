import type { FieldSchema, IntegerField, SessionData } from "../core/fields.js";
import type { CreateSessionOptions, LoadOptions, Session, SessionManager } from "../core/session-manager.js";
import { type CookieSettings, cookieNameFor, isSecureCookie, readCookie, serializeCookie } from "./cookie.js";
import { toHTTPError } from "./http-errors.js";

/**
 * The session of one request, as handlers see it (`req.session`, `request.session`, `c.get("session")`).
 * Nothing touches the store until a method is called, so routes that never look at the session cost no
 * store call. Failures of the store reject with a LatchkeyHTTPError (503 for an outage) whose message is
 * safe to send; the original error is its `cause`.
 */
export interface RequestSession<S extends FieldSchema = FieldSchema> {
  /**
   * The request's session, or null when it has none (no cookie, unknown, expired). The first call asks
   * the store and refreshes the idle timer; later calls return the same result without a store call,
   * unless they pass `increment`, which is always applied (in the same round trip as a fresh load).
   * A cookie that names no live session is cleared.
   */
  load(options?: LoadOptions<S>): Promise<Session<S> | null>;
  /**
   * Logs in: starts a session with a fresh token and sets the cookie. The request's previous session, if
   * any, is destroyed first, so a token planted before login is never promoted (session fixation).
   * `userAgent` and `ip` default to the request's.
   */
  create(userId: string, options?: CreateSessionOptions<S>): Promise<Session<S>>;
  /** Gives the session a new token (the old one dies) and sets the cookie; null when there is no session. */
  rotate(): Promise<Session<S> | null>;
  /** Ends the session in the store and clears the cookie; false when there was no live session. */
  destroy(): Promise<boolean>;
  /** Sets fields of the session; false (and nothing written) when there is no live session. */
  set(data: SessionData<S>): Promise<boolean>;
  /** Removes fields of the session; false when there is no live session. */
  unset(fields: readonly (keyof S & string)[]): Promise<boolean>;
  /** Atomically adds `by` (default 1) to an integer field; null when there is no live session. */
  increment(field: IntegerField<S>, by?: number): Promise<number | null>;
  /** The token the request presents (or was just given): pass it to `sessions.destroyForUser(...)`. */
  readonly token: string | undefined;
  /** The public id of the token's session, safe to log; null without a well-formed token. */
  readonly publicId: string | null;
}

/**
 * What the request session needs from one HTTP exchange, provided by each adapter from its framework.
 * Only `setCookie` is called after construction, and only when the session's cookie changes.
 */
export interface SessionExchange {
  /** The Cookie header as received. */
  readonly cookieHeader: string | readonly string[] | undefined;
  /** True when the request arrived over HTTPS, as the adapter's proxy trust sees it. */
  readonly https: boolean;
  /** The User-Agent header ("" when absent). */
  userAgent(): string;
  /** The client IP ("" when unknown). */
  ip(): string;
  /**
   * Sends (or replaces the one already queued) Set-Cookie value of the session cookie. The adapter also
   * marks the response `Cache-Control: no-store`: a shared cache must never hand the cookie to another.
   */
  setCookie(value: string): void;
}

/** The RequestSession every adapter hands out: the framework-neutral part of each adapter. */
export class RequestSessionContext<S extends FieldSchema> implements RequestSession<S> {
  #sessions: SessionManager<S>;
  #exchange: SessionExchange;
  #settings: CookieSettings;
  #secure: boolean;
  #cookieName: string;
  #token: string | undefined;
  #loaded: Promise<Session<S> | null> | undefined;

  constructor(sessions: SessionManager<S>, exchange: SessionExchange, settings: CookieSettings) {
    this.#sessions = sessions;
    this.#exchange = exchange;
    this.#settings = settings;
    this.#secure = isSecureCookie(settings, exchange.https);
    this.#cookieName = cookieNameFor(settings, this.#secure);
    this.#token = readCookie(exchange.cookieHeader, this.#cookieName);
  }

  get token(): string | undefined {
    return this.#token;
  }

  get publicId(): string | null {
    return this.#sessions.publicIdOf(this.#token);
  }

  load(options?: LoadOptions<S>): Promise<Session<S> | null> {
    if (this.#loaded === undefined || options?.increment !== undefined) {
      const presented = this.#token;
      this.#loaded = this.#sessions.load(presented, options).then((session) => {
        // A cookie that names no session is stale: ask the browser to stop sending it.
        if (session === null && presented !== undefined && presented === this.#token) this.#clearCookie();
        return session;
      }, rethrowForHTTP);
    }
    return this.#loaded;
  }

  async create(userId: string, options: CreateSessionOptions<S> = {}): Promise<Session<S>> {
    const previous = this.#token;
    if (previous !== undefined) await guard(this.#sessions.destroy(previous));
    const { token, session } = await guard(
      this.#sessions.create(userId, {
        ...options,
        userAgent: options.userAgent ?? this.#exchange.userAgent(),
        ip: options.ip ?? this.#exchange.ip(),
      }),
    );
    this.#adopt(token, session);
    return session;
  }

  async rotate(): Promise<Session<S> | null> {
    if (this.#token === undefined) return null;
    const rotated = await guard(this.#sessions.rotate(this.#token));
    if (rotated === null) {
      this.#forget();
      return null;
    }
    this.#adopt(rotated.token, rotated.session);
    return rotated.session;
  }

  async destroy(): Promise<boolean> {
    const token = this.#token;
    const existed = token === undefined ? false : await guard(this.#sessions.destroy(token));
    this.#forget();
    return existed;
  }

  async set(data: SessionData<S>): Promise<boolean> {
    if (this.#token === undefined) return false;
    const ok = await guard(this.#sessions.set(this.#token, data));
    const cached = await this.#cached();
    if (ok && cached) Object.assign(cached.data, data);
    return ok;
  }

  async unset(fields: readonly (keyof S & string)[]): Promise<boolean> {
    if (this.#token === undefined) return false;
    const ok = await guard(this.#sessions.unset(this.#token, fields));
    const cached = await this.#cached();
    if (ok && cached) for (const field of fields) delete (cached.data as Record<string, unknown>)[field];
    return ok;
  }

  async increment(field: IntegerField<S>, by = 1): Promise<number | null> {
    if (this.#token === undefined) return null;
    const value = await guard(this.#sessions.increment(this.#token, field, by));
    const cached = await this.#cached();
    if (value !== null && cached) (cached.data as Record<string, unknown>)[field] = value;
    return value;
  }

  /** The session already loaded by this request, without causing a load. */
  async #cached(): Promise<Session<S> | null> {
    if (this.#loaded === undefined) return null;
    return this.#loaded.catch(() => null);
  }

  #adopt(token: string, session: Session<S>): void {
    this.#token = token;
    this.#loaded = Promise.resolve(session);
    const maxAgeSeconds = (session.expiresAt.getTime() - Date.now()) / 1000;
    this.#exchange.setCookie(
      serializeCookie(this.#cookieName, token, {
        secure: this.#secure,
        maxAgeSeconds,
        sameSite: this.#settings.sameSite,
      }),
    );
  }

  #forget(): void {
    this.#token = undefined;
    this.#loaded = Promise.resolve(null);
    this.#clearCookie();
  }

  #clearCookie(): void {
    this.#exchange.setCookie(
      serializeCookie(this.#cookieName, "", {
        secure: this.#secure,
        maxAgeSeconds: 0,
        sameSite: this.#settings.sameSite,
      }),
    );
  }
}

/** A failed store call, as the LatchkeyHTTPError the framework should see (see `toHTTPError`). */
function guard<T>(pending: Promise<T>): Promise<T> {
  return pending.catch(rethrowForHTTP);
}

function rethrowForHTTP(error: unknown): never {
  throw toHTTPError(error);
}
