import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import type { Context, MiddlewareHandler } from "hono";
import type { SessionFields, SessionProperty } from "../../core/session-types.js";
import { resolveAdapterOptions, type SessionAdapterOptions } from "../../http/adapter-options.js";
import {
  type CrossOriginProtectionOptions,
  createCrossOriginCheck as createCheck,
  isSafeMethod,
} from "../../http/cross-origin.js";
import { clientIP, isHTTPS, resolveTrustProxy, type TrustProxy } from "../../http/forwarded.js";
import { CrossOriginRequestError } from "../../http/http-errors.js";
import { type RequestSession, RequestSessionContext } from "../../http/request-session.js";

export type { SessionFields, SessionTypes } from "../../core/session-types.js";
export type { CrossOriginProtectionOptions } from "../../http/cross-origin.js";
export type { TrustProxy } from "../../http/forwarded.js";
export { CrossOriginRequestError, LatchkeyHTTPError } from "../../http/http-errors.js";
export type { RequestSession } from "../../http/request-session.js";

declare module "hono" {
  /** `c.get("session")` (or the registered `property`), typed by `SessionTypes`: see `RequestSession`. */
  interface ContextVariableMap extends Record<SessionProperty, RequestSession<SessionFields>> {}
}

export interface LatchkeyOptions extends SessionAdapterOptions {
  /**
   * Whether `X-Forwarded-Proto` (for the cookie's Secure flag) and `X-Forwarded-For` (for the IP kept
   * with a session) are believed. Default false: see `TrustProxy`.
   */
  trustProxy?: TrustProxy;
  /**
   * The client's IP when no proxy is trusted. Default: the socket's peer address on @hono/node-server
   * (`c.env.incoming`), "" on runtimes that do not expose it (pass e.g. Hono's `getConnInfo` there).
   */
  socketAddress?: (c: Context) => string | undefined;
}

/**
 * The Hono middleware that gives every request a typed, lazy session: `c.get("session")`. Set-Cookie (and
 * `Cache-Control: no-store`) is added to the response after the handler, when a session call changed the
 * cookie. A store outage rejects with a LatchkeyHTTPError, which Hono's default error handler answers
 * with 503 and a message that names no internals (it has `getResponse`).
 *
 * @example
 * app.use(crossOriginProtection());
 * app.use(latchkey({ sessions }));
 * app.get("/", async (c) => {
 *   const session = await c.get("session").load({ increment: { visits: 1 } });
 *   return c.text(session ? `Visits: ${session.data.visits}` : "You are not logged in");
 * });
 */
export function latchkey(options: LatchkeyOptions): MiddlewareHandler {
  const { sessions, cookie, property, anonymous } = resolveAdapterOptions(options);
  const hops = resolveTrustProxy(options.trustProxy);
  const socketAddress = options.socketAddress ?? nodeSocketAddress;

  return async function latchkeySession(c, next) {
    let setCookie: string | undefined;
    const context = new RequestSessionContext(
      sessions,
      {
        cookieHeader: c.req.header("cookie"),
        // The header only when a proxy is trusted: every read is a lookup in the request's headers.
        https: isHTTPS(encrypted(c), hops === 0 ? undefined : c.req.header("x-forwarded-proto"), hops),
        userAgent: () => c.req.header("user-agent") ?? "",
        ip: () => clientIP(socketAddress(c), c.req.header("x-forwarded-for"), hops),
        setCookie: (value) => {
          setCookie = value;
        },
      },
      cookie,
      { anonymous },
    );
    c.set(property as SessionProperty, context as RequestSession<SessionFields>);
    await next();
    if (setCookie !== undefined) {
      // A Response passed through from fetch() has immutable headers: copy it to add ours.
      if (!headersWritable(c.res)) c.res = new Response(c.res.body, c.res);
      c.res.headers.append("set-cookie", setCookie);
      c.res.headers.set("cache-control", "no-store");
    }
  };
}

/**
 * Refuses cross-origin state-changing requests with a CrossOriginRequestError (403), before the handler
 * reads the body. The rules are Go's CrossOriginProtection (see `latchkey/http`).
 *
 * @example
 * app.use(crossOriginProtection({ trustedOrigins: ["https://admin.example.com"] }));
 */
export function crossOriginProtection(options: CrossOriginProtectionOptions = {}): MiddlewareHandler {
  const isCrossOrigin = createCrossOriginCheck(options);
  return async function latchkeyCrossOriginProtection(c, next) {
    if (!isSafeMethod(c.req.method) && isCrossOrigin(c)) throw new CrossOriginRequestError();
    await next();
  };
}

/** The cross-origin check on a request, whatever its method (e.g. for a GET with side effects). */
export function createCrossOriginCheck(options: CrossOriginProtectionOptions = {}): (c: Context) => boolean {
  const check = createCheck(options);
  return (c) =>
    check({
      host: c.req.header("host") ?? new URL(c.req.url).host,
      origin: c.req.header("origin"),
      secFetchSite: c.req.header("sec-fetch-site"),
    });
}

/** @hono/node-server passes the Node request as `c.env.incoming`. */
function nodeIncoming(c: Context): IncomingMessage | undefined {
  const env = c.env as { incoming?: IncomingMessage } | undefined;
  return env?.incoming;
}

function nodeSocketAddress(c: Context): string | undefined {
  return nodeIncoming(c)?.socket?.remoteAddress;
}

/**
 * Whether the request came over TLS: on @hono/node-server its socket says; elsewhere its URL does (on
 * node-server `c.req.url` is built from the Host header for every request that asks, so it is not).
 */
function encrypted(c: Context): boolean {
  const incoming = nodeIncoming(c);
  if (incoming !== undefined) return (incoming.socket as Partial<TLSSocket> | undefined)?.encrypted === true;
  return c.req.url.startsWith("https:");
}

function headersWritable(response: Response): boolean {
  try {
    response.headers.set("cache-control", response.headers.get("cache-control") ?? "no-store");
    return true;
  } catch {
    return false;
  }
}
