import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type AccountChange, passwordProblem } from "../accounts.js";
import { clientIPOf, throttleKeyOf } from "../client-ip.js";
import { requireFields } from "../form.js";
import { type AccountFormError, accountPage } from "../views/account.js";
import { BUSY, BUSY_MESSAGE, hashing, loggedOut, waitText } from "./auth.js";
import { type AppContext, flashNotice, seeOther, sendPage, viewOf } from "./context.js";

const WRONG_PASSWORD = "Your current password is not right. Nothing was changed.";
const DELETED = "Your account has been deleted, and every session of it ended.";

/**
 * The signed-in user's account: change the password (`/account/password`) or delete the account
 * (`/account/delete`), each only with the current password. Cross-site posts never get here
 * (crossOriginProtection answers 403).
 *
 * The current password is checked as a login is: counted by the login throttle before it is hashed
 * (`reserveLogin`), so a stolen session cannot guess the password here faster than at /login, and a
 * wrong one changes nothing and counts; under the hash limiter.
 *
 * A change is written before any session ends, and a login checks after writing its session that the
 * password it was granted for is still the account's (routes/auth.ts): so a login racing a change or a
 * deletion either is ended by it or ends itself.
 */
export function accountRoutes(app: FastifyInstance, context: AppContext): void {
  const { sessions } = context;

  /** The signed-in session, or null (a visitor or anonymous session: sent to the login page). */
  const signedIn = async (request: FastifyRequest, takeFlash = false) => {
    const session = await request.session.load(takeFlash ? { takeFlash: true } : {});
    return session?.userId == null ? null : { ...session, userId: session.userId };
  };

  /**
   * Checks the current password under the throttle and the hash limiter, then runs `change` with it.
   * Answers the form again on a refusal (429, 503 busy, 401 wrong password); else the change's outcome.
   */
  const withCurrentPassword = async (
    request: FastifyRequest,
    reply: FastifyReply,
    userId: string,
    form: AccountFormError["form"],
    change: (currentPassword: string) => Promise<AccountChange>,
  ): Promise<AccountChange | FastifyReply> => {
    const { current_password: current } = requireFields(request.body, ["current_password"]);
    const page = async (status: number, error: string) =>
      sendPage(
        reply,
        status,
        accountPage(viewOf(context, request, await request.session.load()), { form, error }),
      );
    const client = throttleKeyOf(clientIPOf(request));
    const retryAfter = await context.throttle.reserveLogin(userId, client);
    if (retryAfter > 0) {
      request.log.warn({ userId }, "account change throttled");
      reply.header("retry-after", String(retryAfter));
      return page(429, `Too many attempts. Please wait ${waitText(retryAfter)} before trying again.`);
    }
    const outcome = await hashing(context.hashLimiter, request, reply, client, () => change(current));
    if (outcome === BUSY) return page(reply.statusCode, BUSY_MESSAGE);
    if (outcome === "wrong-password") {
      request.log.info({ userId, form }, "account change refused: wrong current password");
      return page(401, WRONG_PASSWORD);
    }
    if (outcome === "done") await context.throttle.loginSucceeded(userId, client);
    return outcome;
  };

  app.get("/account", async (request, reply) => {
    const session = await signedIn(request, true);
    if (session === null) return seeOther(reply, "/login");
    return sendPage(
      reply,
      200,
      accountPage(viewOf(context, request, session), undefined, session.authenticatedAt),
    );
  });

  app.post("/account/password", async (request, reply) => {
    const session = await signedIn(request);
    if (session === null) return seeOther(reply, "/login");
    const { new_password: newPassword } = requireFields(request.body, ["new_password"]);
    const problem = passwordProblem(newPassword);
    if (problem !== null) {
      const view = viewOf(context, request, session);
      return sendPage(reply, 400, accountPage(view, { form: "password", error: problem }));
    }
    const outcome = await withCurrentPassword(request, reply, session.userId, "password", (current) =>
      context.accounts.changePassword(session.userId, current, newPassword),
    );
    if (typeof outcome !== "string") return outcome;
    if (outcome === "gone") return accountGone(request, reply);
    // The password is changed: this browser gets a new token (its session and data carry over), and
    // every other session of the user ends, those a thief may hold included.
    const rotated = await request.session.rotate();
    if (rotated === null) return seeOther(reply, "/login");
    // The user has just proved who they are: the session's authenticatedAt says so (ASVS 7.5).
    await request.session.reauthenticate();
    const ended = await sessions.destroyForUser(session.userId, { exceptToken: request.session.token });
    request.log.info({ userId: session.userId, ended }, "password changed");
    const notice = `Your password has been changed${ended > 0 ? `, and ${ended} other session${ended === 1 ? "" : "s"} ended` : ""}.`;
    if (await flashNotice(context, request, notice)) return seeOther(reply, "/account");
    return sendPage(reply, 200, accountPage({ ...viewOf(context, request, rotated), notice }));
  });

  app.post("/account/delete", async (request, reply) => {
    const session = await signedIn(request);
    if (session === null) return seeOther(reply, "/login");
    const outcome = await withCurrentPassword(request, reply, session.userId, "delete", (current) =>
      context.accounts.remove(session.userId, current),
    );
    if (typeof outcome !== "string") return outcome;
    if (outcome === "gone") return accountGone(request, reply);
    return accountGone(request, reply, session.userId);
  });

  /**
   * The account is deleted (by this request, `userId` given, or before it): every session of the user
   * ends, this one included, and the browser lands on the home page with the notice.
   */
  const accountGone = async (request: FastifyRequest, reply: FastifyReply, userId?: string) => {
    const current = await request.session.load();
    const owner = userId ?? current?.userId ?? undefined;
    if (owner != null) {
      const ended = await sessions.destroyForUser(owner);
      request.log.info({ userId: owner, ended }, "account deleted");
    }
    await request.session.destroy();
    return loggedOut(context, request, reply, DELETED);
  };
}
