import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Session } from "latchkey";
import { type Account, passwordProblem, userIdOf, usernameProblem } from "../accounts.js";
import { clientIPOf, throttleKeyOf } from "../client-ip.js";
import { requireFields } from "../form.js";
import { HashLimitError, type HashLimiter } from "../hash-limiter.js";
import { isHTTPS } from "../security-headers.js";
import type { sessionFields } from "../session-types.js";
import { setThemeCookie, themeOf } from "../theme.js";
import { describeUserAgent } from "../user-agent.js";
import { loginPage, logoutConfirmPage, signupPage } from "../views/auth.js";
import { anonymousHomePage } from "../views/home.js";
import { type AppContext, flashNotice, seeOther, sendPage, viewOf } from "./context.js";

const LOGIN_FAILED = "Wrong username or password.";
export const BUSY_MESSAGE = "Too many password checks at once. Please try again in a moment.";
/** What `hashing` returns when the hash limiter refused: the reply's status and Retry-After are set. */
export const BUSY = Symbol("busy");

/** A wait as the pages say it: minutes (rounded up) from a minute on, seconds below. */
export function waitText(seconds: number): string {
  return seconds < 60 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`;
}

/**
 * Runs a password hash under the app's hash limiter (hash-limiter.ts). Over its bounds: BUSY, with the
 * reply's status (429 for this client's share, 503 for a full queue) and Retry-After set.
 */
export async function hashing<T>(
  limiter: HashLimiter,
  request: FastifyRequest,
  reply: FastifyReply,
  client: string,
  task: () => Promise<T>,
): Promise<T | typeof BUSY> {
  try {
    return await limiter.run(client, task);
  } catch (error) {
    if (!(error instanceof HashLimitError)) throw error;
    request.log.warn({ status: error.statusCode }, "password check refused: hash limiter full");
    reply.code(error.statusCode).header("retry-after", String(error.retryAfterSeconds));
    return BUSY;
  }
}

/**
 * Starts the account's session with a fresh token. The request's previous session ends in the same
 * step; when it was a visitor's (anonymous) one, its pending notice carries over.
 */
function logIn(
  request: FastifyRequest,
  account: Account,
  rememberSeconds: number | null,
): Promise<Session<typeof sessionFields>> {
  return request.session.create(account.userId, {
    data: { username: account.username },
    // "Keep me signed in": a persistent cookie and a session that lasts rememberSeconds whatever its
    // activity. Otherwise the cookie ends with the browser and the default timeouts apply.
    ...(rememberSeconds === null
      ? { browserSession: true }
      : { absoluteTimeoutSeconds: rememberSeconds, idleTimeoutSeconds: rememberSeconds }),
    // A short summary ("Firefox on Windows") rather than the raw header: it is what the sessions page
    // shows, and it keeps the session hash under Redis's 64-byte compact-encoding limit.
    userAgent: describeUserAgent(request.headers["user-agent"] ?? ""),
  });
}

const LOGGED_OUT = "You have logged out.";

/**
 * Ends the request's session and answers. Over HTTPS, also asks the browser to drop what it cached or
 * stored for this origin (browsers honour Clear-Site-Data only from secure origins).
 *
 * The notice for the page the browser lands on is kept in a fresh anonymous session, best effort
 * (`flashNotice`): only when a session was ended (a request without one starts nothing), and when the
 * store cannot take it (a full Redis) the logout still happened, so the answer is the home page with
 * the notice, 200, not an error page saying nothing was saved.
 */
async function logOut(
  context: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const ended = await request.session.destroy();
  if (isHTTPS(request)) reply.header("clear-site-data", '"cache", "storage"');
  if (!ended) return seeOther(reply, "/");
  return loggedOut(context, request, reply, LOGGED_OUT);
}

/**
 * The answer once the request's session has ended: the home page, with `notice` kept for it (a fresh
 * anonymous session, best effort: `flashNotice`) or, when it could not be kept, shown on this answer.
 */
export async function loggedOut(
  context: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  notice: string,
): Promise<FastifyReply> {
  if (await flashNotice(context, request, notice)) return seeOther(reply, "/");
  return sendPage(reply, 200, anonymousHomePage({ ...viewOf(context, request, null), notice, path: "/" }));
}

/** A top-level navigation the user started by typing the URL or picking a bookmark, not a prefetch. */
function typedByUser(request: FastifyRequest): boolean {
  const { headers } = request;
  if (headers["sec-fetch-site"] !== "none") return false;
  if (headers["sec-fetch-mode"] !== undefined && headers["sec-fetch-mode"] !== "navigate") return false;
  const purpose = `${headers["sec-purpose"] ?? ""} ${headers.purpose ?? ""}`;
  return !/prefetch|prerender/i.test(purpose);
}

/** Sign-up, login and logout. Logging in or signing up always starts a session with a fresh token. */
export function authRoutes(app: FastifyInstance, context: AppContext): void {
  /** What to show again in the username field: the user's own text, cut to a sane length. */
  const echo = (username: string) => username.slice(0, 64);
  /** The page context of a form answer (the visitor's theme), without taking a notice. */
  const formView = async (request: FastifyRequest) => viewOf(context, request, await request.session.load());

  /** GET of a form page: a signed-in user has nothing to do there. */
  const formPage = (render: typeof loginPage) => async (request: FastifyRequest, reply: FastifyReply) => {
    const session = await request.session.load({ takeFlash: true });
    if (session?.userId != null) return seeOther(reply, "/");
    return sendPage(reply, 200, render(viewOf(context, request, session)));
  };

  app.get("/signup", formPage(signupPage));

  app.post("/signup", async (request, reply) => {
    const { username, password } = requireFields(request.body, ["username", "password"]);
    const page = async (status: number, error: string) =>
      sendPage(reply, status, signupPage(await formView(request), { username: echo(username), error }));
    // Input that breaks the rules costs nothing, so it is refused before it counts as an attempt.
    const problem = usernameProblem(username) ?? passwordProblem(password);
    if (problem !== null) return page(400, problem);
    const client = throttleKeyOf(clientIPOf(request));
    const retryAfter = await context.throttle.admitSignup(client);
    if (retryAfter > 0) {
      request.log.warn("sign-up throttled");
      reply.header("retry-after", String(retryAfter));
      return page(429, `Too many sign-ups from your network. Please wait ${waitText(retryAfter)}.`);
    }
    const account = await hashing(context.hashLimiter, request, reply, client, () =>
      context.accounts.register(username, password),
    );
    if (account === BUSY) return page(reply.statusCode, BUSY_MESSAGE);
    if (account === null) return page(409, "That username is taken. Please choose another.");
    request.log.info({ userId: account.userId }, "account created");
    await context.throttle.loginSucceeded(account.userId, client);
    await logIn(request, account, null);
    await request.session.flash("notice", `Welcome, ${account.username}: your account is ready.`);
    return seeOther(reply, "/");
  });

  app.get("/login", formPage(loginPage));

  app.post("/login", async (request, reply) => {
    const { username, password } = requireFields(request.body, ["username", "password"]);
    const page = async (status: number, error: string) =>
      sendPage(reply, status, loginPage(await formView(request), { username: echo(username), error }));
    // Only well-formed names get an account counter: anything else could not name an account.
    const userId = usernameProblem(username) === null ? userIdOf(username) : null;
    const client = throttleKeyOf(clientIPOf(request));
    // Counted before the password is hashed (see login-throttle.ts): a burst gets the limit through.
    const retryAfter = await context.throttle.reserveLogin(userId, client);
    if (retryAfter > 0) {
      // No user id: the typed name may be no account at all (often a password in the wrong field).
      request.log.warn("login throttled");
      reply.header("retry-after", String(retryAfter));
      return page(429, `Too many attempts. Please wait ${waitText(retryAfter)} before trying again.`);
    }
    const result = await hashing(context.hashLimiter, request, reply, client, () =>
      context.accounts.authenticate(username, password),
    );
    if (result === BUSY) return page(reply.statusCode, BUSY_MESSAGE);
    const { account, ...failure } = result;
    if (account === null) {
      // What was typed as a username is logged only when it names an account: a name that is no
      // account is often a password typed into the wrong field.
      const known = "knownAccount" in failure && failure.knownAccount;
      request.log.info(
        known ? { userId, reason: "wrong password" } : { reason: "unknown account" },
        "login failed",
      );
      return page(401, LOGIN_FAILED);
    }
    await context.throttle.loginSucceeded(account.userId, client);
    const remember = (request.body as Record<string, unknown>).remember === "1";
    const session = await logIn(request, account, remember ? context.config.rememberTimeoutSeconds : null);
    // A password change or an account deletion may have run since the password was checked (a hash
    // takes ~100 ms), and its "end every other session" before this session was written: check again
    // now that it is written, and end it if the password it was granted for is no longer the account's.
    if (!(await context.accounts.isCurrent(account.userId, result.credential))) {
      await request.session.destroy();
      request.log.info({ userId: account.userId }, "login undone: the password changed meanwhile");
      return page(401, LOGIN_FAILED);
    }
    request.log.info({ userId: account.userId, session: session.id, remember }, "logged in");
    return seeOther(reply, "/");
  });

  app.get("/logout", async (request, reply) => {
    // A GET that changes state can be triggered by any site (an <img>, a link) and is sent by link
    // prefetchers and HEAD probes: only a URL the user typed (Sec-Fetch-Site: none, a navigation, not a
    // prefetch) logs out at once. Every other GET, HEAD included (Fastify answers HEAD with this
    // handler), gets a page that asks for a deliberate click on a POST button.
    if (request.method !== "GET" || !typedByUser(request)) {
      const session = await request.session.load();
      if (session?.userId == null) return seeOther(reply, "/");
      const confirm = logoutConfirmPage(viewOf(context, request, session));
      return sendPage(reply, 200, confirm);
    }
    return logOut(context, request, reply);
  });

  // Cross-site POSTs never get here: crossOriginProtection refuses them with 403.
  app.post("/logout", async (request, reply) => logOut(context, request, reply));

  // The visitor's colour theme, kept in a cookie of its own (theme.ts): no store write, signed in or
  // not, so a flood of choices costs the store nothing.
  app.post("/theme", async (request, reply) => {
    const { theme, back } = requireFields(request.body, ["theme", "back"]);
    setThemeCookie(request, reply, themeOf(theme));
    // Only a plain path of this site: "//host" or "/\\host" would be a redirect elsewhere.
    return seeOther(reply, /^\/(?![/\\])[A-Za-z0-9/_.~%-]{0,200}$/.test(back) ? back : "/");
  });
}
