import type { FastifyInstance } from "fastify";
import type { SessionStore } from "latchkey";
import { ICON, ICON_PATH, STYLESHEET, STYLESHEET_PATH } from "../views/style.js";

/** /healthz for load balancers, the stylesheet and the icon. None of them touches the session. */
export function systemRoutes(app: FastifyInstance, store: SessionStore): void {
  app.get("/healthz", async (request, reply) => {
    reply.header("cache-control", "no-store");
    try {
      await store.ping();
      return { status: "ok", store: store.kind };
    } catch (error) {
      request.log.warn({ reason: (error as Error).message }, "health check: store unavailable");
      return reply.code(503).send({ status: "unavailable", store: store.kind });
    }
  });

  app.get(STYLESHEET_PATH, async (_request, reply) =>
    reply
      .header("cache-control", "public, max-age=31536000, immutable")
      .type("text/css; charset=utf-8")
      .send(STYLESHEET),
  );

  app.get(ICON_PATH, async (_request, reply) =>
    reply.header("cache-control", "public, max-age=31536000, immutable").type("image/svg+xml").send(ICON),
  );
}
