import type { FastifyReply, FastifyRequest } from "fastify";
import { isStoreUnavailable, LatchkeyError, type Session, type SessionManager } from "latchkey";
import type { Accounts } from "../accounts.js";
import type { AnonymousLimit } from "../anonymous-limit.js";
import { clientIPOf, throttleKeyOf } from "../client-ip.js";
import type { Config } from "../config.js";
import type { HashLimiter } from "../hash-limiter.js";
import type { SafeHtml } from "../html.js";
import type { LoginThrottle } from "../login-throttle.js";
import type { sessionFields } from "../session-types.js";
import { themeOfRequest } from "../theme.js";
import { duration } from "../views/home.js";
import type { PageContext } from "../views/layout.js";

/** What the route modules share. Built once by `buildApp`. */
export interface AppContext {
  config: Config;
  sessions: SessionManager<typeof sessionFields>;
  accounts: Accounts;
  throttle: LoginThrottle;
  /** Caps concurrent password hashing, globally and per client. */
  hashLimiter: HashLimiter;
  /** Bounds the anonymous sessions started for visitors (per client and in all). */
  anonymousLimit: AnonymousLimit;
  /** True when sessions live in process memory (the pages say so). */
  inMemory: boolean;
  /** True when a request comes from another site (Sec-Fetch-Site / Origin), whatever its method. */
  isCrossOrigin(request: FastifyRequest): boolean;
}

export function pageContext(app: AppContext, username: string | null): PageContext {
  return { username, inMemory: app.inMemory };
}

type AppSession = Session<typeof sessionFields>;

/**
 * The page context of a request whose session was loaded with `takeFlash`: who is signed in (null for
 * a visitor, anonymous session or none), the visitor's theme (its cookie), and the notice to show once: a flash
 * message, or, when the request's cookie named a session that has ended, why it may have.
 */
export function viewOf(app: AppContext, request: FastifyRequest, session: AppSession | null): PageContext {
  const username = session?.userId == null ? null : (session.data.username ?? session.userId);
  let notice = session?.flash.notice ?? null;
  if (session === null && request.session.token !== undefined) {
    notice = `Your session has ended: sessions end after ${duration(app.config.idleTimeoutSeconds)} without activity. Please log in again.`;
  }
  return {
    username,
    inMemory: app.inMemory,
    notice,
    theme: themeOfRequest(request),
    path: request.url.split("?")[0] ?? "/",
    rememberSeconds: app.config.rememberTimeoutSeconds,
  };
}

/** Sends an HTML page; pages depend on the session, so no cache may keep them. */
export function sendPage(reply: FastifyReply, status: number, page: SafeHtml): FastifyReply {
  return reply
    .code(status)
    .header("cache-control", "no-store")
    .type("text/html; charset=utf-8")
    .send(page.toString());
}

/** 303 See Other: after a form post, the browser GETs the target. */
export function seeOther(reply: FastifyReply, location: string): FastifyReply {
  return reply.header("cache-control", "no-store").redirect(location, 303);
}

/**
 * Queues `text` as the notice of the next page, best effort: true when it was stored. It is a
 * follow-up of a change already made (a logout, sessions ended), so it must not turn that change's
 * answer into an error page: when the store cannot take it (a full Redis refuses the write, an
 * outage) or a visitor without a session is over the anonymous-session bound (a notice for a visitor
 * starts an anonymous session), it is dropped (logged at debug) and false returned: the caller then
 * shows the notice in its own answer.
 */
export async function flashNotice(app: AppContext, request: FastifyRequest, text: string): Promise<boolean> {
  if (request.session.token === undefined) {
    const client = throttleKeyOf(clientIPOf(request));
    if (!(await app.anonymousLimit.admit(client))) {
      request.log.debug("notice not kept: anonymous-session bound reached");
      return false;
    }
  }
  try {
    await request.session.flash("notice", text);
    return true;
  } catch (error) {
    if (!isStoreUnavailable(error) && !(error instanceof LatchkeyError && error.code === "STORE_FULL")) {
      throw error;
    }
    request.log.debug({ code: error.code }, "notice not kept: the store refused it");
    return false;
  }
}
