import type { FastifyInstance } from "fastify";
import { sessionsPage } from "../views/sessions.js";
import { type AppContext, seeOther, sendPage, viewOf } from "./context.js";

/** A public session id as listed on the page: 16 base64url characters. */
const PUBLIC_ID = /^[A-Za-z0-9_-]{16}$/;

/** The user's active sessions, and buttons to end them. */
export function sessionRoutes(app: FastifyInstance, context: AppContext): void {
  const { sessions } = context;

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
      await request.session.destroy({ flash: { notice: "You have logged out." } });
      return seeOther(reply, "/");
    }
    // destroyById only ends sessions of this user: another user's id ends nothing.
    const ended = PUBLIC_ID.test(id) && (await sessions.destroyById(session.userId, id));
    await request.session.flash(
      "notice",
      ended ? "That session has ended." : "That session had already ended.",
    );
    return seeOther(reply, "/sessions");
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
    await request.session.flash("notice", notice);
    return seeOther(reply, "/sessions");
  });
}
