import { InvalidOptionError } from "../core/errors.js";
import type { SessionManager } from "../core/session-manager.js";
import type { SessionFields } from "../core/session-types.js";
import { type CookieSettings, resolveCookieSettings, type SessionCookieOptions } from "./cookie.js";

/** The options every adapter's `latchkey(...)` takes. */
export interface SessionAdapterOptions extends SessionCookieOptions {
  /** The session engine: `createSessionManager({ store, fields, ... })`. */
  sessions: SessionManager<SessionFields>;
  /**
   * Where handlers find the request session, default "session" (`req.session`, `request.session`,
   * `c.get("session")`). Register the same name as `property` in `SessionTypes` so that it is typed.
   */
  property?: string;
  /**
   * Start an anonymous session (before login) on the first write of a visitor who has none: `set` and
   * `increment` then succeed instead of answering false/null. Default false. A request that writes
   * nothing never creates one, so page views of visitors cost no store write.
   */
  anonymous?: boolean;
}

/** Adapter options after validation. */
export interface ResolvedAdapterOptions {
  sessions: SessionManager<SessionFields>;
  cookie: CookieSettings;
  property: string;
  anonymous: boolean;
}

const PROPERTY = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/;

/** Checks the options every adapter shares, once, at construction; throws InvalidOptionError. */
export function resolveAdapterOptions(options: SessionAdapterOptions | undefined): ResolvedAdapterOptions {
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError(
      "sessions",
      "is required: pass { sessions: createSessionManager({ store }) }",
    );
  }
  const { sessions, property = "session", anonymous = false } = options;
  if (
    typeof sessions !== "object" ||
    sessions === null ||
    typeof sessions.load !== "function" ||
    typeof sessions.create !== "function"
  ) {
    throw new InvalidOptionError("sessions", "is required: pass createSessionManager({ store, ... })");
  }
  if (typeof property !== "string" || !PROPERTY.test(property)) {
    throw new InvalidOptionError(
      "property",
      `must be a JavaScript identifier of at most 64 characters, got ${JSON.stringify(property)}`,
    );
  }
  if (typeof anonymous !== "boolean") {
    throw new InvalidOptionError("anonymous", `must be true or false, got ${JSON.stringify(anonymous)}`);
  }
  return { sessions, cookie: resolveCookieSettings(options), property, anonymous };
}
