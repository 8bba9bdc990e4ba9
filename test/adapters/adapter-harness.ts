import type { SessionCookieOptions } from "../../src/http/cookie.js";
import type { SessionManager } from "../../src/index.js";

/** The schema every adapter harness serves. */
export const FIELDS = { username: "string", visits: "integer" } as const;
export type Fields = typeof FIELDS;
export type Sessions = SessionManager<Fields>;

/** One HTTP request, as the shared suite sends it through a framework's own client. */
export interface SuiteRequest {
  method: "GET" | "HEAD" | "POST" | "PUT" | "DELETE";
  path: string;
  headers?: Record<string, string>;
}

export interface SuiteResponse {
  status: number;
  /** Lower-case names; a header sent several times is joined with ", " (Set-Cookie excepted). */
  headers: Record<string, string>;
  setCookies: string[];
  body: string;
}

export interface AppUnderTest {
  request(request: SuiteRequest): Promise<SuiteResponse>;
  close(): Promise<void>;
}

export interface StartOptions {
  sessions: Sessions;
  /** Believe X-Forwarded-Proto / X-Forwarded-For from one proxy (each framework's own way of saying it). */
  trustProxy?: boolean;
  /** Passed to the adapter as `secure`. */
  secure?: boolean;
  /** Passed to the adapter as `anonymous`: a visitor's first write starts an anonymous session. */
  anonymous?: boolean;
  /** More cookie options, passed to the adapter as they are (sameSite, cookiePath, cookieDomain, ...). */
  cookie?: Omit<SessionCookieOptions, "secure">;
}

/**
 * A framework, with the same routes on its adapter, so that one suite proves the same behaviour for
 * every adapter. The routes (all answer JSON):
 * - GET /nothing: never touches the session, `{ ok: true }`.
 * - GET /whoami: `load()` twice, `{ user, username, same, publicId }` (user null when logged out).
 * - GET /view: `load({ increment: { visits: 1 } })`, `{ visits }` (null when logged out).
 * - POST /login?user=NAME[&keep=FIELD][&browser=1]: `create(NAME, { data: { username: NAME },
 *   keep: [FIELD], browserSession: true })`, `{ id }`.
 * - POST /rotate: `rotate()`, `{ id }` (null without a session).
 * - POST /reauthenticate: `reauthenticate()`, `{ ok, before, after }` (the loaded session's
 *   `authenticatedAt` in ms before and after; null without a session).
 * - POST /logout[?notice=X]: `destroy()` (with `{ flash: { notice: X } }`), `{ ended }`.
 * - POST /flash?text=X: `flash("notice", X)`, `{ ok }`.
 * - GET /flash: `load({ takeFlash: true })`, `{ user, notice }`.
 * - POST /rename?username=X: `set({ username: X })`, `{ ok, username }` (username as loaded after).
 * - POST /forget: `unset(["username"])`, `{ ok, username }`.
 * - POST /bump: `increment("visits", 5)`, `{ visits }`.
 * - GET /token: `{ token }`, the token the request presents.
 * Errors are left to the framework's DEFAULT error handling: the suite checks what an app without its
 * own error handler sends.
 */
export interface AdapterHarness {
  name: string;
  start(options: StartOptions): Promise<AppUnderTest>;
}
