import type { FastifyInstance, FastifyRequest } from "fastify";

/**
 * Headers on every response. The pages have no scripts, no inline styles and no third-party content, so
 * the policy can be strict: everything from this origin only, never framed, no referrer to other sites.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/**
 * True when the request arrived over HTTPS: `request.protocol` honours TRUST_PROXY, and a proxy may
 * write X-Forwarded-Proto in any case ("HTTPS").
 */
export function isHTTPS(request: FastifyRequest): boolean {
  return request.protocol.toLowerCase() === "https";
}

export function securityHeaders(app: FastifyInstance): void {
  // A callback hook, not an async one: it runs on every request and has nothing to wait for.
  app.addHook("onRequest", (request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    // Over HTTPS, tell the browser never to use plain HTTP for this host again.
    if (isHTTPS(request)) reply.header("strict-transport-security", "max-age=31536000");
    done();
  });
}
