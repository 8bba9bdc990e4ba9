import { LatchkeyError } from "../../core/errors.js";
import type { FieldSchema } from "../../core/fields.js";
import type { SessionFields } from "../../core/session-types.js";
import { resolveAdapterOptions, type SessionAdapterOptions } from "../../http/adapter-options.js";
import {
  type CrossOriginProtectionOptions,
  createCrossOriginCheck as createCheck,
  isSafeMethod,
} from "../../http/cross-origin.js";
import { clientIP, isHTTPS, resolveTrustProxy, type TrustProxy } from "../../http/forwarded.js";
import { CrossOriginRequestError, LatchkeyHTTPError, toHTTPError } from "../../http/http-errors.js";
import { type RequestSession, RequestSessionContext } from "../../http/request-session.js";
import { type CookieJar, setInJar } from "./cookie-jar.js";

export type { SessionFields, SessionTypes } from "../../core/session-types.js";
export type { CrossOriginProtectionOptions } from "../../http/cross-origin.js";
export type { TrustProxy } from "../../http/forwarded.js";
export { CrossOriginRequestError, LatchkeyHTTPError } from "../../http/http-errors.js";
export type { RequestSession } from "../../http/request-session.js";
export type { CookieJar, CookieJarOptions } from "./cookie-jar.js";

/**
 * What a session is read from: a Fetch API `Request`, or only its headers where the framework gives no
 * Request (a Next.js server action or server component: `await headers()`).
 */
export type WebRequest = Request | Headers | { readonly headers: Headers; readonly url?: string };

/** The headers and, when known, the URL of a WebRequest. */
function partsOf(request: WebRequest): { headers: Headers; url: string | undefined } {
  if (typeof (request as Headers).get === "function") return { headers: request as Headers, url: undefined };
  const { headers, url } = request as { headers: Headers; url?: string };
  return { headers, url };
}

export interface WebSessionsOptions extends SessionAdapterOptions, CrossOriginProtectionOptions {
  /**
   * Whether `X-Forwarded-Proto` (for the cookie's Secure flag) and `X-Forwarded-For` (for the IP kept
   * with a session) are believed. Default false: see `TrustProxy`. Without it, HTTPS is the request
   * URL's scheme (for a bare `Headers`, which has none, X-Forwarded-Proto as Next.js sets it).
   */
  trustProxy?: TrustProxy;
}

export interface WebSessionOptions {
  /**
   * The client's IP as the runtime knows it: `event.getClientAddress()` (SvelteKit),
   * `context.clientAddress` (Astro), `server.requestIP(request)?.address` (Bun),
   * `info.remoteAddr.hostname` (Deno). A Request carries none; with `trustProxy`, X-Forwarded-For wins.
   */
  clientAddress?: string;
  /**
   * Write the cookie into this store as soon as a session call changes it (Next.js `await cookies()`
   * in a server action or route handler, SvelteKit's `event.cookies`), instead of `applyTo` later.
   */
  cookies?: CookieJar;
}

/** A request's session, plus what the response must carry. */
export interface WebSession<S extends FieldSchema = SessionFields> extends RequestSession<S> {
  /** The Set-Cookie value a session call asked for, until `applyTo` sends it; undefined when none. */
  readonly setCookie: string | undefined;
  /**
   * Adds the session's Set-Cookie (and `Cache-Control: no-store`) to a Response, which it returns (a
   * copy when its headers are immutable, as `Response.redirect()`'s are), or to a Headers, in place.
   * Nothing is added when no session call changed the cookie.
   */
  applyTo<T extends Response | Headers>(target: T): T;
}

/** latchkey for the frameworks built on the Fetch API, with options checked once. */
export interface WebSessions {
  /** The request's typed, lazy session: nothing touches the store until a method is called. */
  session(request: WebRequest, options?: WebSessionOptions): WebSession;
  /**
   * Serves a request: refuses a cross-site POST/PUT/PATCH/DELETE with 403 before `handler` runs,
   * answers a failed session call with its status (503 with `Retry-After` for an outage) and a message
   * that names no internals, and adds the cookie to whatever response comes out. Other errors are
   * rethrown to the framework.
   */
  handle(
    request: Request,
    handler: (session: WebSession) => Response | Promise<Response>,
    options?: WebSessionOptions,
  ): Promise<Response>;
  /**
   * True when a state-changing request comes from another site (Go's CrossOriginProtection rules, with
   * `trustedOrigins`), whatever its method: for middleware, or a server action's `await headers()`.
   */
  isCrossOrigin(request: WebRequest): boolean;
  /** The Response for an error of a session call: its status and generic message; any other error is rethrown. */
  errorResponse(error: unknown): Response;
}

/**
 * latchkey for Request-in, Response-out frameworks: Next.js App Router (route handlers, server actions,
 * middleware), React Router 7, SvelteKit, Astro, Bun, Deno. The cookie is HttpOnly, SameSite=Lax,
 * Path=/, Max-Age = the session's absolute end, and `__Host-` + Secure over HTTPS, as in every adapter.
 *
 * @example
 * const web = createWebSessions({ sessions });
 * export function GET(request: Request) {
 *   return web.handle(request, async (session) => {
 *     const current = await session.load({ increment: { visits: 1 } });
 *     return Response.json({ visits: current?.data.visits ?? null });
 *   });
 * }
 */
export function createWebSessions(options: WebSessionsOptions): WebSessions {
  const { sessions, cookie, anonymous } = resolveAdapterOptions(options);
  const hops = resolveTrustProxy(options.trustProxy);
  const check = createCheck({ trustedOrigins: options.trustedOrigins ?? [] });

  const isCrossOrigin = (request: WebRequest): boolean => {
    const { headers, url } = partsOf(request);
    return check({
      host: headers.get("host") ?? hostOf(url),
      origin: headers.get("origin") ?? undefined,
      secFetchSite: headers.get("sec-fetch-site") ?? undefined,
    });
  };

  const session = (request: WebRequest, perRequest: WebSessionOptions = {}): WebSession => {
    const { headers, url } = partsOf(request);
    // Bare Headers without a cookie jar: a Next.js server component, which cannot set a cookie. A token
    // renewed there would be lost with its cookie, so its loads never renew one (they still follow a
    // renewal made elsewhere).
    const canSetCookie = perRequest.cookies !== undefined || typeof (request as Headers).get !== "function";
    const jar = perRequest.cookies;
    let pending: string | undefined;
    const context = new RequestSessionContext(
      sessions,
      {
        cookieHeader: headers.get("cookie") ?? undefined,
        https: isHTTPS(schemeIsHTTPS(url, headers), headers.get("x-forwarded-proto") ?? undefined, hops),
        userAgent: () => headers.get("user-agent") ?? "",
        ip: () => clientIP(perRequest.clientAddress, headers.get("x-forwarded-for") ?? undefined, hops),
        setCookie: (value) => {
          if (jar === undefined) pending = value;
          else setInJar(jar, value);
        },
      },
      cookie,
      { anonymous, renew: canSetCookie },
    );
    return Object.defineProperties(context as unknown as WebSession, {
      setCookie: { get: () => pending },
      applyTo: {
        value<T extends Response | Headers>(target: T): T {
          if (pending === undefined) return target;
          const value = pending;
          pending = undefined;
          return withCookie(target, value);
        },
      },
    });
  };

  const errorResponse = (error: unknown): Response => {
    const mapped = toHTTPError(error);
    if (mapped instanceof LatchkeyHTTPError) return mapped.getResponse();
    throw error;
  };

  return {
    session,
    isCrossOrigin,
    errorResponse,
    async handle(request, handler, perRequest) {
      if (!isSafeMethod(request.method) && isCrossOrigin(request)) {
        return new CrossOriginRequestError().getResponse();
      }
      const current = session(request, perRequest);
      let response: Response;
      try {
        response = await handler(current);
      } catch (error) {
        if (!(error instanceof LatchkeyError)) throw error;
        // The store holds what the calls before the failure did (a login, a rotation): the browser
        // must get that cookie, even on the error page.
        response = errorResponse(error);
      }
      return current.applyTo(response);
    },
  };
}

/**
 * Whether the request's own URL is https. A bare Headers has no URL: there, X-Forwarded-Proto stands for
 * it as Next.js builds `request.url` from it (https when any entry says https; Next.js sets the header
 * itself when no proxy did), so that a page or server action (`headers()`) and a route handler
 * (`request.url`) of one app agree on the cookie's name. Believing it costs nothing: a client that
 * forges it only gets a Secure cookie it cannot send back over plain HTTP. With `trustProxy`, the
 * trusted hop's entry decides, as for a Request.
 */
function schemeIsHTTPS(url: string | undefined, headers: Headers): boolean {
  if (url !== undefined) return url.startsWith("https:");
  return headers.get("x-forwarded-proto")?.toLowerCase().includes("https") === true;
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

function withCookie<T extends Response | Headers>(target: T, value: string): T {
  if (target instanceof Response) {
    // Response.redirect() and a Response passed through from fetch() have immutable headers.
    const response = headersWritable(target.headers) ? target : new Response(target.body, target);
    replaceSessionCookie(response.headers, value);
    return response as T;
  }
  replaceSessionCookie(target as Headers, value);
  return target;
}

/** Adds the session cookie, replacing one of the same name this response already had. */
function replaceSessionCookie(headers: Headers, value: string): void {
  const name = value.slice(0, value.indexOf("=") + 1);
  const others = headers.getSetCookie().filter((cookie) => !cookie.startsWith(name));
  headers.delete("set-cookie");
  for (const cookie of others) headers.append("set-cookie", cookie);
  headers.append("set-cookie", value);
  headers.set("cache-control", "no-store");
}

function headersWritable(headers: Headers): boolean {
  try {
    headers.set("cache-control", headers.get("cache-control") ?? "no-store");
    return true;
  } catch {
    return false;
  }
}
