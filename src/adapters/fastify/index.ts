import type { FastifyInstance, FastifyPluginCallback, FastifyRequest } from "fastify";
import { type FieldSchema, InvalidOptionError, type SessionManager } from "../../index.js";
import { isValidCookieName } from "./cookie.js";
import { type CookieSettings, type RequestSession, RequestSessionContext } from "./request-session.js";

export {
  type CrossOriginProtectionOptions,
  CrossOriginRequestError,
  createCrossOriginCheck,
  crossOriginProtection,
} from "./cross-origin.js";
export type { RequestSession } from "./request-session.js";

/**
 * A registry for typing `request.session` with your schema. Augment it once in your application:
 *
 * @example
 * const fields = { username: "string", visits: "integer" } as const;
 * declare module "latchkey/fastify" {
 *   interface SessionTypes { fields: typeof fields }
 * }
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by applications through declaration merging.
export interface SessionTypes {}

/** The field schema registered in `SessionTypes`, or any fields when none is. */
export type SessionFields = SessionTypes extends { fields: infer F extends FieldSchema } ? F : FieldSchema;

declare module "fastify" {
  interface FastifyRequest {
    /** The request's session, loaded lazily: see `RequestSession`. */
    session: RequestSession<SessionFields>;
  }
}

export interface LatchkeyOptions {
  /** The session engine: `createSessionManager({ store, fields, ... })`. */
  sessions: SessionManager<SessionFields>;
  /** Cookie name, default "lk". Over HTTPS the cookie is sent as `__Host-` + name. */
  cookieName?: string;
  /**
   * Whether the cookie is `Secure` (and `__Host-` prefixed). "auto" (the default) follows
   * `request.protocol`, which honours Fastify's `trustProxy` and `X-Forwarded-Proto`.
   */
  secure?: "auto" | boolean;
}

const kContext: unique symbol = Symbol("latchkey.session");
type WithContext = FastifyRequest & { [kContext]: RequestSessionContext<SessionFields> | null };

/**
 * The Fastify plugin that gives every request a typed, lazy `request.session`. Registered without
 * encapsulation: it applies to every route of the instance it is registered on.
 *
 * The cookie is HttpOnly, SameSite=Lax, Path=/, with Max-Age set to the session's absolute end (the
 * server enforces idle expiry); over HTTPS it is Secure and named `__Host-<cookieName>`. A missing,
 * malformed, duplicated or oversized cookie means "no session". Responses that set or clear the cookie
 * get `Cache-Control: no-store`, and a store outage surfaces as an error with `statusCode` 503.
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
    let settings: { sessions: SessionManager<SessionFields>; cookie: CookieSettings };
    try {
      settings = validate(options);
    } catch (error) {
      done(error as Error);
      return;
    }
    const { sessions, cookie } = settings;

    fastify.decorateRequest(kContext, null);
    fastify.decorateRequest("session", {
      getter(this: FastifyRequest) {
        const request = this as WithContext;
        request[kContext] ??= new RequestSessionContext(sessions, request, cookie);
        return request[kContext];
      },
    });
    fastify.addHook("onSend", (request, reply, payload, next) => {
      const setCookie = (request as WithContext)[kContext]?.pendingCookie;
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

function validate(options: LatchkeyOptions | undefined): {
  sessions: SessionManager<SessionFields>;
  cookie: CookieSettings;
} {
  const { sessions, cookieName = "lk", secure = "auto" } = options ?? ({} as LatchkeyOptions);
  if (
    typeof sessions !== "object" ||
    sessions === null ||
    typeof sessions.load !== "function" ||
    typeof sessions.create !== "function"
  ) {
    throw new InvalidOptionError("sessions", "is required: pass createSessionManager({ store, ... })");
  }
  if (!isValidCookieName(cookieName)) {
    throw new InvalidOptionError(
      "cookieName",
      `must be 1-64 cookie-name characters (letters, digits, !#$%&'*+-.^_\`|~), got ${JSON.stringify(cookieName)}`,
    );
  }
  if (/^__(host|secure)-/i.test(cookieName)) {
    throw new InvalidOptionError(
      "cookieName",
      "must not carry a __Host- or __Secure- prefix: one is added over HTTPS",
    );
  }
  if (secure !== "auto" && secure !== true && secure !== false) {
    throw new InvalidOptionError("secure", `must be "auto", true or false, got ${JSON.stringify(secure)}`);
  }
  return { sessions, cookie: { name: cookieName, secure } };
}
