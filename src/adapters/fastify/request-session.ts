import type { FastifyRequest } from "fastify";
import {
  type CreateSessionOptions,
  type FieldSchema,
  type IntegerField,
  isStoreUnavailable,
  type LoadOptions,
  type Session,
  type SessionData,
  type SessionManager,
} from "../../index.js";
import { readCookie, serializeCookie } from "./cookie.js";

/**
 * The session of one request, as handlers see it through `request.session`. Nothing touches the store
 * until a method is called, so routes that never look at the session cost no store call.
 */
export interface RequestSession<S extends FieldSchema = FieldSchema> {
  /**
   * The request's session, or null when it has none (no cookie, unknown, expired). The first call asks
   * the store and refreshes the idle timer; later calls return the same result without a store call,
   * unless they pass `increment`, which is always applied (in the same round trip as a fresh load).
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
  /** Sets fields of the session; false when there is no live session. */
  set(data: SessionData<S>): Promise<boolean>;
  /** Atomically adds `by` (default 1) to an integer field; null when there is no live session. */
  increment(field: IntegerField<S>, by?: number): Promise<number | null>;
  /** The token the request presents (or was just given): pass it to `sessions.destroyForUser(...)`. */
  readonly token: string | undefined;
  /** The public id of the token's session, safe to log; null without a well-formed token. */
  readonly publicId: string | null;
}

export interface CookieSettings {
  name: string;
  secure: "auto" | boolean;
}

const HOST_PREFIX = "__Host-";

export class RequestSessionContext<S extends FieldSchema> implements RequestSession<S> {
  #sessions: SessionManager<S>;
  #request: FastifyRequest;
  #cookie: CookieSettings;
  #token: string | undefined;
  #loaded: Promise<Session<S> | null> | undefined;
  /** The Set-Cookie value to send, written by the plugin's onSend hook; the last change wins. */
  pendingCookie: string | undefined;

  constructor(sessions: SessionManager<S>, request: FastifyRequest, cookie: CookieSettings) {
    this.#sessions = sessions;
    this.#request = request;
    this.#cookie = cookie;
    this.#token = readCookie(request.headers.cookie, this.#cookieName());
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
      }, withHttpStatus);
    }
    return this.#loaded;
  }

  async create(userId: string, options: CreateSessionOptions<S> = {}): Promise<Session<S>> {
    const previous = this.#token;
    if (previous !== undefined) await guard(this.#sessions.destroy(previous));
    const { token, session } = await guard(
      this.#sessions.create(userId, {
        ...options,
        userAgent: options.userAgent ?? this.#request.headers["user-agent"] ?? "",
        ip: options.ip ?? this.#request.ip,
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
    this.pendingCookie = serializeCookie(this.#cookieName(), token, {
      secure: this.#secure(),
      maxAgeSeconds,
    });
  }

  #forget(): void {
    this.#token = undefined;
    this.#loaded = Promise.resolve(null);
    this.#clearCookie();
  }

  #clearCookie(): void {
    this.pendingCookie = serializeCookie(this.#cookieName(), "", {
      secure: this.#secure(),
      maxAgeSeconds: 0,
    });
  }

  #secure(): boolean {
    const { secure } = this.#cookie;
    return secure === "auto" ? this.#request.protocol === "https" : secure;
  }

  #cookieName(): string {
    return this.#secure() ? HOST_PREFIX + this.#cookie.name : this.#cookie.name;
  }
}

/**
 * Gives store outages an HTTP status, so that an application without its own error handler answers
 * 503 Service Unavailable rather than 500.
 */
function guard<T>(pending: Promise<T>): Promise<T> {
  return pending.catch(withHttpStatus);
}

function withHttpStatus(error: unknown): never {
  if (isStoreUnavailable(error) && !("statusCode" in error)) {
    Object.defineProperty(error, "statusCode", { value: 503, enumerable: false, configurable: true });
  }
  throw error;
}
