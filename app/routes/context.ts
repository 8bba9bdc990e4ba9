import type { FastifyReply, FastifyRequest } from "fastify";
import type { SessionManager } from "latchkey";
import type { Accounts } from "../accounts.js";
import type { Config } from "../config.js";
import type { HashLimiter } from "../hash-limiter.js";
import type { SafeHtml } from "../html.js";
import type { LoginThrottle } from "../login-throttle.js";
import type { sessionFields } from "../session-types.js";
import type { PageContext } from "../views/layout.js";

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
