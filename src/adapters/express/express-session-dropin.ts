import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidOptionError } from "../../core/errors.js";
import type { FieldSchema } from "../../core/fields.js";
import type { SessionManager } from "../../core/session-manager.js";
import type { SessionFields } from "../../core/session-types.js";
import { resolveAdapterOptions } from "../../http/adapter-options.js";
import { isSecureCookie, type SessionCookieOptions } from "../../http/cookie.js";
import { resolveTrustProxy, type TrustProxy } from "../../http/forwarded.js";
import { toHTTPError } from "../../http/http-errors.js";
import { passportUserOf, storedPropertiesOf } from "./express-session-data.js";
import {
  createExpressSessionMigration,
  type ExpressSessionMigrationOptions,
} from "./express-session-migration.js";
import { type DropInRequest, RequestState } from "./express-session-state.js";
import { requestOrigin } from "./request-origin.js";

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
  /**
   * As the `latchkey()` option: whether `X-Forwarded-Proto` and `X-Forwarded-For` are believed; when
   * not given, Express's own `trust proxy` setting decides, if the app set it.
   */
  trustProxy?: TrustProxy;
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

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
  // The option when given; else Express's `trust proxy`, read per request (as `latchkey()` does).
  const hops = options.trustProxy === undefined ? undefined : resolveTrustProxy(options.trustProxy);
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
    const { https, ip } = requestOrigin(req, hops);
    const state = new RequestState(req, res, {
      sessions: sessions as unknown as SessionManager<FieldSchema>,
      cookie,
      secure: isSecureCookie(cookie, https()),
      userOf,
      ip,
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
