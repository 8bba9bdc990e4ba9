import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { StoreMonitor } from "../store-monitor.js";
import { ICON, ICON_PATH, STYLESHEET, STYLESHEET_PATH } from "../views/style.js";

/**
 * /healthz for load balancers, the stylesheet and the icon. None of them touches the session.
 *
 * /healthz answers what the store can do now, reads and writes (see `StoreHealth`): "ok" and
 * "degraded" (part of a Cluster down, the other masters serving) with 200, so that a load balancer
 * keeps every instance while most users are served; "down" (unreachable, loading) with 503. Outages
 * are logged by the monitor, once, not per poll.
 *
 * The public answer is `{"status": …}` alone: the details (Redis addresses, Cluster slots, raw
 * errors) help an attacker map the back end. They are sent only to a request that presents
 * `healthDetailsToken` (HEALTHZ_DETAILS_TOKEN) as `Authorization: Bearer <token>`; a separate metrics
 * listener is to carry them later.
 */
export function systemRoutes(app: FastifyInstance, monitor: StoreMonitor, healthDetailsToken?: string): void {
  const maySee = detailsCredential(healthDetailsToken);
  app.get("/healthz", async (request, reply) => {
    reply.header("cache-control", "no-store");
    const { status, ...store } = await monitor.check();
    return reply.code(status === "down" ? 503 : 200).send(maySee(request) ? { status, store } : { status });
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

/**
 * Whether a request presents the health details' credential: `Authorization: Bearer <token>`, compared
 * in constant time (SHA-256 of both, so that their lengths do not show either). Without a token, never.
 */
function detailsCredential(token: string | undefined): (request: FastifyRequest) => boolean {
  if (token === undefined) return () => false;
  const expected = createHash("sha256").update(`Bearer ${token}`).digest();
  return (request) => {
    const presented = request.headers.authorization;
    if (presented === undefined) return false;
    return timingSafeEqual(createHash("sha256").update(presented).digest(), expected);
  };
}
