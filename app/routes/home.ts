import type { FastifyInstance } from "fastify";
import { anonymousHomePage, homePage } from "../views/home.js";
import { type AppContext, sendPage, viewOf } from "./context.js";

/** GET /: the tutorial's page. One store round trip loads the session and counts the visit. */
export function homeRoutes(app: FastifyInstance, context: AppContext): void {
  app.get("/", async (request, reply) => {
    // HEAD is not a view: it loads the session without counting.
    // A view also takes the flash notice, if any, in the same round trip.
    const session = await request.session.load(
      request.method === "HEAD" ? {} : { increment: { visits: 1 }, takeFlash: true },
    );
    const view = viewOf(context, request, session);
    if (session?.userId == null) return sendPage(reply, 200, anonymousHomePage(view));
    const username = session.data.username ?? session.userId;
    return sendPage(
      reply,
      200,
      homePage(view, {
        username,
        visits: session.data.visits ?? 0,
        idleTimeoutSeconds: context.config.idleTimeoutSeconds,
      }),
    );
  });
}
