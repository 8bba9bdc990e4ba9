import type { FastifyInstance } from "fastify";
import type { StoreMonitor } from "../store-monitor.js";
import { ICON, ICON_PATH, STYLESHEET, STYLESHEET_PATH } from "../views/style.js";

/**
 * /healthz for load balancers, the stylesheet and the icon. None of them touches the session.
 *
 * /healthz answers what the store can do now, reads and writes (see `StoreHealth`): "ok" and
 * "degraded" (part of a Cluster down, the other masters serving) with 200, so that a load balancer
 * keeps every instance while most users are served; "down" (unreachable, out of memory, loading)
 * with 503. The body says what failed, in words, without credentials. Outages are logged by the
 * monitor, once, not per poll.
 */
export function systemRoutes(app: FastifyInstance, monitor: StoreMonitor): void {
  app.get("/healthz", async (_request, reply) => {
    reply.header("cache-control", "no-store");
    const { status, ...store } = await monitor.check();
    return reply.code(status === "down" ? 503 : 200).send({ status, store });
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
