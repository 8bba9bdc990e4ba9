import type { FastifyInstance, FastifyPluginCallback, FastifyRequest } from "fastify";
import type { SessionFields, SessionProperty } from "../../core/session-types.js";
import { resolveAdapterOptions, type SessionAdapterOptions } from "../../http/adapter-options.js";
import { isValidClientIP } from "../../http/forwarded.js";
import {
  type RequestSession,
  RequestSessionContext,
  type SessionExchange,
} from "../../http/request-session.js";

export type { SessionFields, SessionTypes } from "../../core/session-types.js";
export type { CrossOriginProtectionOptions } from "../../http/cross-origin.js";
export { CrossOriginRequestError, LatchkeyHTTPError } from "../../http/http-errors.js";
export type { RequestSession } from "../../http/request-session.js";
export { createCrossOriginCheck, crossOriginProtection } from "./cross-origin.js";

declare module "fastify" {
  /** `request.session` (or the registered `property`), typed by `SessionTypes`: see `RequestSession`. */
  interface FastifyRequest extends Record<SessionProperty, RequestSession<SessionFields>> {}
}

/**
 * Options of the Fastify plugin. The cookie is Secure and `__Host-` prefixed when `request.protocol` is
 * https, which honours Fastify's `trustProxy` (set it behind a TLS-terminating proxy).
 */
export type LatchkeyOptions = SessionAdapterOptions;

const kSetCookie: unique symbol = Symbol("latchkey.set-cookie");
type WithCookie = FastifyRequest & { [kSetCookie]: string | undefined };

/**
 * One Fastify request as the request session sees it: one object per request that touches its
 * session, where an object literal of closures cost four.
 */
class FastifyExchange implements SessionExchange {
  readonly #request: WithCookie;

  constructor(request: WithCookie) {
    this.#request = request;
  }

  get cookieHeader(): string | undefined {
    return this.#request.headers.cookie;
  }

  get https(): boolean {
    return this.#request.protocol.toLowerCase() === "https";
  }

  userAgent(): string {
    return this.#request.headers["user-agent"] ?? "";
  }

  ip(): string {
    // Fastify's request.ip is whatever X-Forwarded-For said, under trustProxy: keep only an IP.
    const { ip } = this.#request;
    return isValidClientIP(ip) ? ip : (this.#request.socket.remoteAddress ?? "");
  }

  setCookie(value: string): void {
    this.#request[kSetCookie] = value;
  }
}

/**
 * The Fastify plugin that gives every request a typed, lazy `request.session`. Registered without
 * encapsulation (fastify-plugin metadata): it applies to every route of the instance it is registered
 * on. `property` renames the decorator, so that it can run beside @fastify/session during a migration.
 *
 * The cookie is HttpOnly, SameSite=Lax, Path=/, with Max-Age set to the session's absolute end (the
 * server enforces idle expiry); over HTTPS it is Secure and named `__Host-<cookieName>`. A missing,
 * malformed, duplicated or oversized cookie means "no session". Responses that set or clear the cookie
 * get `Cache-Control: no-store`, and a store outage surfaces as a LatchkeyHTTPError with `statusCode`
 * 503 and a message that names no internals.
 *
 * @example
 * await app.register(latchkey, { sessions });
 * app.get("/", async (request) => {
 *   const session = await request.session.load({ increment: { visits: 1 } });
 *   return session ? `Visits: ${session.data.visits}` : "You are not logged in";
 * });
 */
export const latchkey: FastifyPluginCallback<LatchkeyOptions> = Object.assign(
  function latchkey(fastify: FastifyInstance, options: LatchkeyOptions, done: (error?: Error) => void) {
    let resolved: ReturnType<typeof resolveAdapterOptions>;
    try {
      resolved = resolveAdapterOptions(options);
    } catch (error) {
      done(error as Error);
      return;
    }
    const { sessions, cookie, property, anonymous } = resolved;
    const contextOptions = { anonymous };
    const kContext = Symbol(`latchkey.${property}`);
    type WithContext = WithCookie & { [kContext]: RequestSessionContext<SessionFields> | null };

    fastify.decorateRequest(kContext, null);
    fastify.decorateRequest(kSetCookie, undefined);
    fastify.decorateRequest(property, {
      getter(this: FastifyRequest) {
        const request = this as WithContext;
        request[kContext] ??= new RequestSessionContext(
          sessions,
          new FastifyExchange(request),
          cookie,
          contextOptions,
        );
        return request[kContext];
      },
    });
    fastify.addHook("onSend", (request, reply, payload, next) => {
      const setCookie = (request as WithCookie)[kSetCookie];
      if (setCookie !== undefined) {
        reply.header("set-cookie", setCookie);
        reply.header("cache-control", "no-store");
      }
      next(null, payload);
    });
    done();
  },
  {
    [Symbol.for("skip-override")]: true,
    [Symbol.for("fastify.display-name")]: "latchkey",
    [Symbol.for("plugin-meta")]: { name: "latchkey", fastify: "5.x" },
  },
);
