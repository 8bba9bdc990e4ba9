import type { FieldSchema, IntegerField, SessionData } from "../core/fields.js";
import type {
  CreatedSession,
  CreateSessionOptions,
  LoadOptions,
  PromoteOptions,
  Session,
  SessionManager,
} from "../core/session-manager.js";
import {
  type CookieAttributes,
  type CookieSettings,
  cookieNameFor,
  isSecureCookie,
  readCookie,
  serializeCookie,
} from "./cookie.js";
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
   * unless they pass `increment` (always applied, in the same round trip as a fresh load) or
   * `takeFlash` (the flash messages, delivered to exactly one load and removed in its round trip).
   * A cookie that names no live session is cleared.
   */
  load(options?: LoadOptions<S>): Promise<Session<S> | null>;
  /**
   * Logs in: a session for `userId` with a fresh token, and the cookie. The request's previous session
   * ends in the same step, so a token planted before login is never promoted (session fixation); when
   * it was anonymous, the `keep` fields and its flash messages carry over (a cart survives login).
   * `userAgent` and `ip` default to the request's.
   */
  create(userId: string, options?: PromoteOptions<S>): Promise<Session<S>>;
  /** Gives the session a new token (the old one dies) and sets the cookie; null when there is no session. */
  rotate(): Promise<Session<S> | null>;
  /**
   * Ends the session in the store and clears the cookie; false when there was no live session. With
   * `flash`, the browser is left with a fresh anonymous session holding those messages ("You have
   * logged out."), whose cookie replaces the old one.
   */
  destroy(options?: { flash?: Readonly<Record<string, string>> }): Promise<boolean>;
  /**
   * Sets fields of the session; false (and nothing written) when there is no live session, unless the
   * adapter has `anonymous: true`: then the first write of a visitor without a session starts an
   * anonymous one (and sets its cookie).
   */
  set(data: SessionData<S>): Promise<boolean>;
  /** Removes fields of the session; false when there is no live session. */
  unset(fields: readonly (keyof S & string)[]): Promise<boolean>;
  /**
   * Atomically adds `by` (default 1) to an integer field; null when there is no live session (with
   * `anonymous: true`, an anonymous session is started holding `by`).
   */
  increment(field: IntegerField<S>, by?: number): Promise<number | null>;
  /**
   * Queues a one-time message for the next request that loads with `takeFlash` (after a redirect).
   * Without a live session, an anonymous one is started to hold it.
   */
  flash(name: string, text: string): Promise<void>;
  /**
   * Records that the user has just proved who they are (call it after checking their password): the
   * session's `authenticatedAt` becomes now, for this request's loaded session too. False when there
   * is no live session.
   */
  reauthenticate(): Promise<boolean>;
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
  #anonymous: boolean;
  #renew: boolean;

  /**
   * `anonymous`: the first write of a visitor without a session starts an anonymous session. `renew`
   * (default true): a load may renew a due token (`renewAfterSeconds`); false where no cookie can reach
   * the browser (a Next.js server component), since a token renewed there would be lost with its cookie.
   */
  constructor(
    sessions: SessionManager<S>,
    exchange: SessionExchange,
    settings: CookieSettings,
    { anonymous = false, renew = true }: { anonymous?: boolean; renew?: boolean } = {},
  ) {
    this.#anonymous = anonymous;
    this.#renew = renew;
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
    if (this.#loaded === undefined || options?.increment !== undefined || options?.takeFlash === true) {
      const presented = this.#token;
      // With renewal on, a token due for it (or renewed moments ago by another request) is replaced
      // during the load: the new one becomes this request's, and its cookie is set.
      // (Built field by field: an object spread costs a page view several thousand instructions.)
      const loadOptions: LoadOptions<S> | undefined =
        this.#renew && this.#sessions.renewAfterSeconds > 0
          ? {
              increment: options?.increment,
              takeFlash: options?.takeFlash,
              onRenew: (renewed) => this.#adoptToken(renewed.token, renewed.session),
            }
          : options;
      this.#loaded = this.#sessions.load(presented, loadOptions).then((session) => {
        // A cookie that names no session is stale: ask the browser to stop sending it.
        if (session === null && presented !== undefined && presented === this.#token) this.#clearCookie();
        return session;
      }, rethrowForHTTP);
    }
    return this.#loaded;
  }

  async create(userId: string, options: PromoteOptions<S> = {}): Promise<Session<S>> {
    const { token, session } = await guard(
      this.#sessions.promote(this.#token, userId, this.#withRequest(options)),
    );
    this.#adopt(token, session);
    return session;
  }

  /** Create options whose user agent and IP default to the request's. */
  #withRequest<O extends CreateSessionOptions<S>>(options: O): O {
    return {
      ...options,
      userAgent: options.userAgent ?? this.#exchange.userAgent(),
      ip: options.ip ?? this.#exchange.ip(),
    };
  }

  /** Starts an anonymous session for this request (the first write of a visitor without one). */
  async #startAnonymous(options: CreateSessionOptions<S> = {}): Promise<string> {
    const { token, session } = await guard(this.#sessions.createAnonymous(this.#withRequest(options)));
    this.#adopt(token, session);
    return token;
  }

  async flash(name: string, text: string): Promise<void> {
    if (this.#token !== undefined && (await guard(this.#sessions.flash(this.#token, name, text)))) return;
    const token = await this.#startAnonymous();
    await guard(this.#sessions.flash(token, name, text));
  }

  async reauthenticate(): Promise<boolean> {
    if (this.#token === undefined) return false;
    const at = new Date();
    const ok = await guard(this.#sessions.reauthenticate(this.#token));
    const cached = await this.#cached();
    if (ok && cached && cached.userId !== null) cached.authenticatedAt = at;
    return ok;
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

  async destroy(options: { flash?: Readonly<Record<string, string>> } = {}): Promise<boolean> {
    const token = this.#token;
    const existed = token === undefined ? false : await guard(this.#sessions.destroy(token));
    this.#forget();
    const messages = Object.entries(options.flash ?? {});
    if (messages.length > 0) {
      const fresh = await this.#startAnonymous();
      for (const [name, text] of messages) await guard(this.#sessions.flash(fresh, name, text));
    }
    return existed;
  }

  async set(data: SessionData<S>): Promise<boolean> {
    const ok = this.#token !== undefined && (await guard(this.#sessions.set(this.#token, data)));
    if (!ok) {
      if (!this.#anonymous) return false;
      await this.#startAnonymous({ data });
      return true;
    }
    const cached = await this.#cached();
    if (cached) Object.assign(cached.data, data);
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
    const value =
      this.#token === undefined ? null : await guard(this.#sessions.increment(this.#token, field, by));
    if (value === null && this.#anonymous) {
      await this.#startAnonymous({ data: { [field]: by } as SessionData<S> });
      return by;
    }
    const cached = await this.#cached();
    if (value !== null && cached) (cached.data as Record<string, unknown>)[field] = value;
    return value;
  }

  /** The session already loaded by this request, without causing a load. */
  async #cached(): Promise<Session<S> | null> {
    if (this.#loaded === undefined) return null;
    return this.#loaded.catch(() => null);
  }

  /**
   * Makes a session created outside this request's calls (a migration from another session layer) the
   * request's: it is cached as loaded, and its cookie is set.
   */
  adopt(created: CreatedSession<S>): void {
    this.#adopt(created.token, created.session);
  }

  #adopt(token: string, session: Session<S>): void {
    this.#loaded = Promise.resolve(session);
    this.#adoptToken(token, session);
  }

  /** Makes `token` the request's and sets its cookie. */
  #adoptToken(token: string, session: Session<S>): void {
    this.#token = token;
    // A browser-session cookie has no Max-Age: it ends with the browser (the server still ends the
    // session by its timeouts). Otherwise the cookie lives as long as the session can.
    const maxAgeSeconds = session.browserSession
      ? undefined
      : (session.expiresAt.getTime() - Date.now()) / 1000;
    this.#exchange.setCookie(serializeCookie(this.#cookieName, token, this.#attributes(maxAgeSeconds)));
  }

  #forget(): void {
    this.#token = undefined;
    this.#loaded = Promise.resolve(null);
    this.#clearCookie();
  }

  #clearCookie(): void {
    this.#exchange.setCookie(serializeCookie(this.#cookieName, "", this.#attributes(0)));
  }

  /** The configured attributes: a clearing cookie must match the Path and Domain of the one it clears. */
  #attributes(maxAgeSeconds: number | undefined): CookieAttributes {
    const { sameSite, path, domain, partitioned } = this.#settings;
    return { secure: this.#secure, maxAgeSeconds, sameSite, path, domain, partitioned };
  }
}

/** A failed store call, as the LatchkeyHTTPError the framework should see (see `toHTTPError`). */
function guard<T>(pending: Promise<T>): Promise<T> {
  return pending.catch(rethrowForHTTP);
}

function rethrowForHTTP(error: unknown): never {
  throw toHTTPError(error);
}
