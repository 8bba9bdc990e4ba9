import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { sessionsPage } from "../views/sessions.js";
import { loggedOut } from "./auth.js";
import { type AppContext, flashNotice, seeOther, sendPage, viewOf } from "./context.js";

/** A public session id as listed on the page: 16 base64url characters. */
const PUBLIC_ID = /^[A-Za-z0-9_-]{16}$/;

/** The user's active sessions, and buttons to end them. */
export function sessionRoutes(app: FastifyInstance, context: AppContext): void {
  const { sessions } = context;

  /**
   * After sessions were ended: the notice for /sessions, best effort (`flashNotice`). When the store
   * cannot keep it (a full Redis refuses the write; the sessions did end), the list is the answer
   * itself, with the notice, instead of an error page saying nothing was saved.
   */
  const answer = async (request: FastifyRequest, reply: FastifyReply, userId: string, notice: string) => {
    if (await flashNotice(context, request, notice)) return seeOther(reply, "/sessions");
    const session = await request.session.load();
    const rows = await sessions.listForUser(userId);
    const view = { ...viewOf(context, request, session), notice, path: "/sessions" };
    return sendPage(reply, 200, sessionsPage(view, rows, request.session.publicId));
  };

  app.get("/sessions", async (request, reply) => {
    const session = await request.session.load({ takeFlash: true });
    // Only a signed-in session (not an anonymous one) has sessions to list and end.
    if (session?.userId == null) return seeOther(reply, "/login");
    const rows = await sessions.listForUser(session.userId);
    return sendPage(
      reply,
      200,
      sessionsPage(viewOf(context, request, session), rows, request.session.publicId),
    );
  });

  app.post<{ Params: { id: string } }>("/sessions/:id/end", async (request, reply) => {
    const session = await request.session.load();
    // Only a signed-in session (not an anonymous one) has sessions to list and end.
    if (session?.userId == null) return seeOther(reply, "/login");
    const { id } = request.params;
    if (id === session.id) {
      await request.session.destroy();
      return loggedOut(context, request, reply, "You have logged out.");
    }
    // destroyById only ends sessions of this user: another user's id ends nothing.
    const ended = PUBLIC_ID.test(id) && (await sessions.destroyById(session.userId, id));
    return answer(
      request,
      reply,
      session.userId,
      ended ? "That session has ended." : "That session had already ended.",
    );
  });

  app.post("/sessions/end-others", async (request, reply) => {
    const session = await request.session.load();
    // Only a signed-in session (not an anonymous one) has sessions to list and end.
    if (session?.userId == null) return seeOther(reply, "/login");
    const ended = await sessions.destroyForUser(session.userId, { exceptToken: request.session.token });
    request.log.info({ userId: session.userId, ended }, "ended other sessions");
    const notice =
      ended === 0
        ? "There were no other sessions."
        : `${ended} other session${ended === 1 ? "" : "s"} ended.`;
    return answer(request, reply, session.userId, notice);
  });
}
