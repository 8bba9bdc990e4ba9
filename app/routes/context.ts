import type { FastifyReply, FastifyRequest } from "fastify";
import type { Session, SessionManager } from "latchkey";
import type { Accounts } from "../accounts.js";
import type { Config } from "../config.js";
import type { HashLimiter } from "../hash-limiter.js";
import type { SafeHtml } from "../html.js";
import type { LoginThrottle } from "../login-throttle.js";
import type { sessionFields } from "../session-types.js";
import { duration } from "../views/home.js";
import { type PageContext, THEMES, type Theme } from "../views/layout.js";

/** What the route modules share. Built once by `buildApp`. */
export interface AppContext {
  config: Config;
  sessions: SessionManager<typeof sessionFields>;
  accounts: Accounts;
  throttle: LoginThrottle;
  /** Caps concurrent password hashing, globally and per client. */
  hashLimiter: HashLimiter;
  /** True when sessions live in process memory (the pages say so). */
  inMemory: boolean;
  /** True when a request comes from another site (Sec-Fetch-Site / Origin), whatever its method. */
  isCrossOrigin(request: FastifyRequest): boolean;
}

export function pageContext(app: AppContext, username: string | null): PageContext {
  return { username, inMemory: app.inMemory };
}

type AppSession = Session<typeof sessionFields>;

/** A theme as stored in a session, or "auto" for anything else. */
export function themeOf(value: unknown): Theme {
  return THEMES.find((theme) => theme === value) ?? "auto";
}

/**
 * The page context of a request whose session was loaded with `takeFlash`: who is signed in (null for
 * a visitor, anonymous session or none), the visitor's theme, and the notice to show once: a flash
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
    theme: themeOf(session?.data.theme),
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
