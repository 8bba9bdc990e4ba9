import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { InvalidOptionError, LatchkeyError } from "../../core/errors.js";
import type { SessionFields, SessionProperty } from "../../core/session-types.js";
import { resolveAdapterOptions, type SessionAdapterOptions } from "../../http/adapter-options.js";
import {
  type CrossOriginProtectionOptions,
  createCrossOriginCheck as createCheck,
  isSafeMethod,
} from "../../http/cross-origin.js";
import {
  clientIP,
  isHTTPS,
  isValidClientIP,
  resolveTrustProxy,
  type TrustProxy,
} from "../../http/forwarded.js";
import { CrossOriginRequestError, toHTTPError } from "../../http/http-errors.js";
import { type RequestSession, RequestSessionContext } from "../../http/request-session.js";
import {
  createExpressSessionMigration,
  type ExpressSessionMigrationOptions,
  type MigratedSession,
} from "./express-session-migration.js";

export type { SessionFields, SessionTypes } from "../../core/session-types.js";
export type { CrossOriginProtectionOptions } from "../../http/cross-origin.js";
export type { TrustProxy } from "../../http/forwarded.js";
export { CrossOriginRequestError, LatchkeyHTTPError } from "../../http/http-errors.js";
export type { RequestSession } from "../../http/request-session.js";
export type {
  ExpressSessionMigrationOptions,
  ExpressSessionStoreLike,
  MigratedSession,
} from "./express-session-migration.js";

declare global {
  namespace Express {
    /** `req.session` (or the registered `property`), typed by `SessionTypes`: see `RequestSession`. */
    interface Request extends Record<SessionProperty, RequestSession<SessionFields>> {}
  }
}

export interface LatchkeyOptions extends SessionAdapterOptions {
  /**
   * Switch from express-session without logging anyone out: a request with a valid signed
   * express-session cookie and no latchkey cookie gets a latchkey session made by `convert` from the
   * old one, which is deleted (and its cookie cleared) in the same response. Forged, unsigned or unknown
   * old cookies are ignored. Keep it on for as long as old sessions can live (their `cookie.maxAge`).
   */
  migrateExpressSession?: ExpressSessionMigrationOptions;
  /**
   * Whether `X-Forwarded-Proto` (for the cookie's Secure flag) and `X-Forwarded-For` (for the IP kept
   * with a session) are believed: see `TrustProxy`. When it is not given, Express's own `trust proxy`
   * setting decides, if the app set it (`app.set("trust proxy", ...)`: `req.protocol` and `req.ip`, with
   * all of Express's forms: hop counts, addresses, subnets, "loopback"); otherwise nothing is believed.
   */
  trustProxy?: TrustProxy;
}

/** The three-argument middleware both Express 4 and 5 take. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * The Express middleware that gives every request a typed, lazy `req.session` (Express 4 and 5). In
 * Express 5 a handler's rejected promise reaches the error handler by itself; in Express 4, pass it to
 * `next` yourself.
 *
 * The cookie is HttpOnly, SameSite=Lax, Path=/, with Max-Age set to the session's absolute end; over
 * HTTPS it is Secure and named `__Host-<cookieName>`. A missing, malformed, duplicated or oversized
 * cookie means "no session". Set-Cookie (and `Cache-Control: no-store`) is set on the response as soon
 * as a session call changes the cookie, so call the session before you send. A store outage rejects with
 * a LatchkeyHTTPError: `status` 503 and a message that names no internals, even in Express's default
 * error handler.
 *
 * @example
 * app.use(crossOriginProtection());
 * app.use(latchkey({ sessions }));
 * app.get("/", async (req, res) => {
 *   const session = await req.session.load({ increment: { visits: 1 } });
 *   res.send(session ? `Visits: ${session.data.visits}` : "You are not logged in");
 * });
 */
export function latchkey(options: LatchkeyOptions): Middleware {
  const { sessions, cookie, property, anonymous } = resolveAdapterOptions(options);
  // The adapter's own option when given; else Express's `trust proxy`, read per request (req.app).
  const hops = options.trustProxy === undefined ? undefined : resolveTrustProxy(options.trustProxy);
  const migration =
    options.migrateExpressSession === undefined
      ? undefined
      : createExpressSessionMigration(options.migrateExpressSession, sessions);

  return function latchkeySession(req, res, next) {
    let context: RequestSessionContext<SessionFields> | undefined;
    const userAgent = () => req.headers["user-agent"] ?? "";
    const express = hops === undefined ? expressProxyTrust(req) : undefined;
    const ip = () =>
      express
        ? isValidClientIP(express.ip)
          ? express.ip
          : (req.socket.remoteAddress ?? "")
        : clientIP(req.socket.remoteAddress, req.headers["x-forwarded-for"], hops ?? 0);
    const contextOf = () => {
      context ??= new RequestSessionContext(
        sessions,
        {
          cookieHeader: req.headers.cookie,
          https: express
            ? express.protocol === "https"
            : isHTTPS(isEncrypted(req), req.headers["x-forwarded-proto"], hops ?? 0),
          userAgent,
          ip,
          setCookie: (value) => setSessionCookie(res, value),
        },
        cookie,
        { anonymous },
      );
      return context;
    };
    Object.defineProperty(req, property, { configurable: true, enumerable: false, get: contextOf });
    if (migration === undefined || !migration.applies(req) || contextOf().token !== undefined) {
      next();
      return;
    }
    const withRequest = (migrated: MigratedSession): MigratedSession => ({
      ...migrated,
      userAgent: migrated.userAgent ?? userAgent(),
      ip: migrated.ip ?? ip(),
    });
    migration.migrate(req, withRequest).then(
      ({ created, clearOldCookie }) => {
        if (created) contextOf().adopt(created);
        if (clearOldCookie) setSessionCookie(res, clearOldCookie);
        next();
      },
      (error: unknown) => next(error instanceof LatchkeyError ? toHTTPError(error) : error),
    );
  };
}

/**
 * Refuses cross-origin state-changing requests (POST, PUT, PATCH, DELETE, ... from another site) by
 * passing a CrossOriginRequestError (403) to `next`, before any body parser or route runs: register it
 * first. The rules are Go's CrossOriginProtection (see `latchkey/http`).
 *
 * @example
 * app.use(crossOriginProtection({ trustedOrigins: ["https://admin.example.com"] }));
 */
export function crossOriginProtection(options: CrossOriginProtectionOptions = {}): Middleware {
  const isCrossOrigin = createCrossOriginCheck(options);
  return function latchkeyCrossOriginProtection(req, _res, next) {
    if (!isSafeMethod(req.method ?? "GET") && isCrossOrigin(req)) {
      next(new CrossOriginRequestError());
      return;
    }
    next();
  };
}

/** The cross-origin check on a request, whatever its method (e.g. for a GET with side effects). */
export function createCrossOriginCheck(
  options: CrossOriginProtectionOptions = {},
): (req: IncomingMessage) => boolean {
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError("options", "must be an object such as { trustedOrigins: [] }");
  }
  const check = createCheck(options);
  return (req) =>
    check({
      host: req.headers.host,
      origin: req.headers.origin,
      secFetchSite: req.headers["sec-fetch-site"],
    });
}

/** The parts of Express's request that its `trust proxy` setting governs. */
interface ExpressRequest {
  app?: { get?: (setting: string) => unknown };
  readonly protocol?: string;
  readonly ip?: string;
}

/**
 * Express's request when the app set `trust proxy` (Express's default is false, and latchkey's then
 * believes no forwarding header); undefined otherwise, and outside Express (a bare node:http server).
 */
function expressProxyTrust(req: IncomingMessage): ExpressRequest | undefined {
  const express = req as IncomingMessage & ExpressRequest;
  const setting = typeof express.app?.get === "function" ? express.app.get("trust proxy") : undefined;
  return setting === undefined || setting === false || setting === 0 ? undefined : express;
}

function isEncrypted(req: IncomingMessage): boolean {
  return (req.socket as Partial<TLSSocket>).encrypted === true;
}

/** Adds the session cookie to the response's Set-Cookie, replacing one this request set before. */
function setSessionCookie(res: ServerResponse, value: string): void {
  // Too late to tell the browser: the session changed in the store all the same.
  if (res.headersSent) return;
  const name = value.slice(0, value.indexOf("=") + 1);
  const current = res.getHeader("set-cookie");
  const others = (current === undefined ? [] : Array.isArray(current) ? current : [String(current)]).filter(
    (cookie) => !cookie.startsWith(name),
  );
  res.setHeader("set-cookie", [...others, value]);
  res.setHeader("cache-control", "no-store");
}
