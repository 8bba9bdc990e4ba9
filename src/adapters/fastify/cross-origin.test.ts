import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import { type CrossOriginProtectionOptions, crossOriginProtection } from "./index.js";

async function app(
  options?: CrossOriginProtectionOptions,
  onError?: (error: { code?: string }) => void,
): Promise<FastifyInstance> {
  const fastify = Fastify();
  if (onError) {
    fastify.setErrorHandler((error: { code?: string }, _request, reply) => {
      onError(error);
      return reply.code(403).send("refused");
    });
  }
  await fastify.register(crossOriginProtection, options ?? {});
  fastify.route({
    method: ["GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE"],
    url: "/",
    handler: async () => "ok",
  });
  return fastify;
}

async function status(
  fastify: FastifyInstance,
  method: "GET" | "HEAD" | "OPTIONS" | "POST" | "PUT" | "DELETE",
  headers: Record<string, string>,
): Promise<number> {
  const response = await fastify.inject({ method, url: "/", headers: { host: "app.example", ...headers } });
  return response.statusCode;
}

describe("crossOriginProtection", () => {
  test("safe methods always pass", async () => {
    const fastify = await app();
    for (const method of ["GET", "HEAD", "OPTIONS"] as const) {
      assert.equal(await status(fastify, method, { "sec-fetch-site": "cross-site" }), 200);
      assert.equal(await status(fastify, method, { origin: "https://evil.example" }), 200);
    }
  });

  test("Sec-Fetch-Site decides when present", async () => {
    const fastify = await app();
    assert.equal(await status(fastify, "POST", { "sec-fetch-site": "same-origin" }), 200);
    assert.equal(await status(fastify, "POST", { "sec-fetch-site": "none" }), 200);
    assert.equal(await status(fastify, "POST", { "sec-fetch-site": "cross-site" }), 403);
    assert.equal(await status(fastify, "PUT", { "sec-fetch-site": "same-site" }), 403);
    assert.equal(await status(fastify, "DELETE", { "sec-fetch-site": "garbage" }), 403);
    // Sec-Fetch-Site same-origin wins over a mismatched Origin (the header a browser computes itself).
    const sameOrigin = { "sec-fetch-site": "same-origin", origin: "http://other.example" };
    assert.equal(await status(fastify, "POST", sameOrigin), 200);
  });

  test("without Sec-Fetch-Site, Origin must match Host", async () => {
    const fastify = await app();
    assert.equal(await status(fastify, "POST", { origin: "http://app.example" }), 200);
    assert.equal(await status(fastify, "POST", { origin: "https://app.example" }), 200);
    assert.equal(await status(fastify, "POST", { origin: "http://evil.example" }), 403);
    assert.equal(await status(fastify, "POST", { origin: "http://app.example:8080" }), 403);
    assert.equal(await status(fastify, "POST", { origin: "null" }), 403);
    assert.equal(
      await status(fastify, "POST", { origin: "http://app.example", host: "app.example:80" }),
      200,
    );
    assert.equal(
      await status(fastify, "POST", { origin: "https://app.example", host: "app.example:443" }),
      200,
    );
    assert.equal(
      await status(fastify, "POST", { origin: "http://app.example", host: "app.example:443" }),
      403,
    );
    assert.equal(await status(fastify, "POST", { origin: "http://APP.example", host: "app.EXAMPLE" }), 200);
  });

  test("requests with neither header pass (curl, scripts)", async () => {
    const fastify = await app();
    assert.equal(await status(fastify, "POST", {}), 200);
  });

  test("trusted origins pass", async () => {
    const fastify = await app({ trustedOrigins: ["https://admin.example"] });
    const trusted = { "sec-fetch-site": "cross-site", origin: "https://admin.example" };
    assert.equal(await status(fastify, "POST", trusted), 200);
    assert.equal(await status(fastify, "POST", { origin: "https://admin.example" }), 200);
    const other = { "sec-fetch-site": "cross-site", origin: "https://evil.example" };
    assert.equal(await status(fastify, "POST", other), 403);
  });

  test("the refusal is a 403 error with a stable code, before the body is parsed", async () => {
    let code: unknown;
    const fastify = await app({}, (error) => {
      code = error.code;
    });
    const response = await fastify.inject({
      method: "POST",
      url: "/",
      headers: { "sec-fetch-site": "cross-site", "content-type": "application/json" },
      payload: "{not json",
    });
    assert.equal(response.statusCode, 403);
    assert.equal(code, "CROSS_ORIGIN_REQUEST");
  });

  test("invalid trusted origins are rejected at registration, naming the option", async () => {
    for (const origin of [
      "https://admin.example/",
      "admin.example",
      "HTTPS://ADMIN.EXAMPLE",
      "ftp://x.example",
    ]) {
      const fastify = Fastify();
      await assert.rejects(async () => {
        await fastify.register(crossOriginProtection, { trustedOrigins: [origin] });
        await fastify.ready();
      }, /option "trustedOrigins\[0\]"/);
    }
  });
});
