import type { FastifyInstance } from "fastify";
import { sessionsPage } from "../views/sessions.js";
import { type AppContext, pageContext, seeOther, sendPage } from "./context.js";

/** A public session id as listed on the page: 16 base64url characters. */
const PUBLIC_ID = /^[A-Za-z0-9_-]{16}$/;

/** The user's active sessions, and buttons to end them. */
export function sessionRoutes(app: FastifyInstance, context: AppContext): void {
  const { sessions } = context;

  app.get("/sessions", async (request, reply) => {
    const session = await request.session.load();
    // Only a signed-in session (not an anonymous one) has sessions to list and end.
    if (session?.userId == null) return seeOther(reply, "/login");
    const { userId } = session;
    const rows = await sessions.listForUser(userId);
    const page = pageContext(context, session.data.username ?? userId);
    return sendPage(reply, 200, sessionsPage(page, rows, request.session.publicId));
  });

  app.post<{ Params: { id: string } }>("/sessions/:id/end", async (request, reply) => {
    const session = await request.session.load();
    // Only a signed-in session (not an anonymous one) has sessions to list and end.
    if (session?.userId == null) return seeOther(reply, "/login");
    const { id } = request.params;
    if (id === session.id) {
      await request.session.destroy();
      return seeOther(reply, "/");
    }
    // destroyById only ends sessions of this user: another user's id ends nothing.
    if (PUBLIC_ID.test(id)) await sessions.destroyById(session.userId, id);
    return seeOther(reply, "/sessions");
  });

  app.post("/sessions/end-others", async (request, reply) => {
    const session = await request.session.load();
    // Only a signed-in session (not an anonymous one) has sessions to list and end.
    if (session?.userId == null) return seeOther(reply, "/login");
    const ended = await sessions.destroyForUser(session.userId, { exceptToken: request.session.token });
    request.log.info({ userId: session.userId, ended }, "ended other sessions");
    return seeOther(reply, "/sessions");
  });
}
