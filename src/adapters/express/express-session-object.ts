import type { SameSite } from "../../http/cookie.js";

/** A callback in express-session's style: called once, with the error if the call failed. */
export type SessionCallback = (error?: unknown) => void;

/** What a session object asks of its request (the drop-in's per-request state). */
export interface SessionOwner {
  /** The public id of the stored session (safe to log), or undefined before it is stored. */
  readonly publicId: string | undefined;
  regenerate(): Promise<void>;
  save(): Promise<void>;
  destroy(): Promise<void>;
  reload(): Promise<void>;
}

/**
 * express-session's `req.session.cookie`, describing the cookie latchkey sends: `expires` is the
 * session's absolute end (null for a browser-session cookie, and before the session is stored), and
 * `maxAge` the milliseconds left until then. It is informational: the session's lifetime is the
 * manager's (`idleTimeoutSeconds`, `absoluteTimeoutSeconds`), and changing these values changes nothing.
 */
export class ExpressSessionCookie {
  path: string;
  domain: string | undefined;
  httpOnly = true;
  secure: boolean;
  sameSite: SameSite;
  partitioned: boolean;
  expires: Date | null;
  originalMaxAge: number | null;

  constructor(settings: {
    path: string;
    domain: string | undefined;
    secure: boolean;
    sameSite: SameSite;
    partitioned: boolean;
    expires: Date | null;
    originalMaxAge: number | null;
  }) {
    this.path = settings.path;
    this.domain = settings.domain;
    this.secure = settings.secure;
    this.sameSite = settings.sameSite;
    this.partitioned = settings.partitioned;
    this.expires = settings.expires;
    this.originalMaxAge = settings.originalMaxAge;
  }

  /** Milliseconds until the cookie expires, or null for a browser-session cookie. */
  get maxAge(): number | null {
    return this.expires === null ? null : this.expires.getTime() - Date.now();
  }

  /**
   * Accepted and ignored, so that express-session code setting it ("remember me") keeps running: the
   * lifetime is the session's, given at login (`absoluteTimeoutSeconds`).
   */
  set maxAge(_milliseconds: number | null) {}
}

/**
 * The object `req.session` is under `expressSession()`: the session's data as plain properties, with
 * express-session's methods (callback style, each returning the session) and `id`. Methods and `id` are
 * not enumerable and `cookie` is not data, so `Object.keys(req.session)` lists the data alone, as
 * Passport's `keepSessionInfo` copying expects.
 */
export class ExpressSession {
  /** express-session's Cookie, for the cookie latchkey sends. */
  declare cookie: ExpressSessionCookie;
  /** Anything the application stores: JSON values, one property per stored field. */
  [property: string]: unknown;
  readonly #owner: SessionOwner;

  constructor(owner: SessionOwner, data: Readonly<Record<string, unknown>>, cookie: ExpressSessionCookie) {
    this.#owner = owner;
    Object.defineProperty(this, "cookie", {
      value: cookie,
      writable: true,
      enumerable: false,
      configurable: true,
    });
    for (const [name, value] of Object.entries(data)) {
      // As express-session: stored data never shadows a method, `id` or `cookie`.
      if (!(name in this)) this[name] = value;
    }
  }

  /** The session's public id (never its token), or undefined until the session is stored. */
  get id(): string | undefined {
    return this.#owner.publicId;
  }

  /**
   * Ends this session in the store (its token dies at once: no fixation) and gives the request a new,
   * empty one, stored with a new token when something is put in it. `callback` runs once the old one
   * is gone.
   */
  regenerate(callback: SessionCallback): this {
    return settle(this.#owner.regenerate(), callback, this);
  }

  /**
   * Writes what this request changed (the properties set, changed or deleted since the session was
   * loaded) in one atomic step; starts the session (and its cookie) when it is new and holds
   * something. A session that ended meanwhile (logged out elsewhere) is not brought back.
   */
  save(callback?: SessionCallback): this {
    return settle(this.#owner.save(), callback, this);
  }

  /** Ends the session in the store, clears the cookie and removes `req.session`. */
  destroy(callback?: SessionCallback): this {
    return settle(this.#owner.destroy(), callback, this);
  }

  /** Reloads the session from the store into a new `req.session` object; an error if it ended. */
  reload(callback: SessionCallback): this {
    return settle(this.#owner.reload(), callback, this);
  }

  /** Nothing to do: every request's load already refreshed the session's idle timer. */
  touch(): this {
    return this;
  }

  /** Nothing to do: the cookie's lifetime is the session's. */
  resetMaxAge(): this {
    return this;
  }
}

function settle<T>(pending: Promise<void>, callback: SessionCallback | undefined, self: T): T {
  pending.then(
    () => callback?.(),
    (error: unknown) => {
      if (callback) callback(error);
    },
  );
  return self;
}
