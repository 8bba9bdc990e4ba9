/**
 * Every answer carries the security headers and is the app's own page, including the ones given before
 * any route or hook runs: Fastify's framework errors and the HTTP parser's client errors.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import { DEFAULT_CONFIG } from "./config.js";
import { SECURITY_HEADERS } from "./security-headers.js";

function assertHeaders(headers: Record<string, unknown>, what: string): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS))
    assert.equal(headers[name], value, `${what}: ${name}`);
}

/** Sends raw bytes and returns the whole answer (the server closes the connection after a client error). */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
  });
}

describe("security headers on every answer", () => {
  let app: FastifyInstance;
  let port = 0;
  before(async () => {
    app = await buildApp({ ...DEFAULT_CONFIG, logLevel: "silent" });
    await app.listen({ port: 0, host: "127.0.0.1" });
    port = (app.server.address() as AddressInfo).port;
  });
  after(() => app.close());

  test("framework errors, refusals and missing pages are the app's HTML pages with the headers", async () => {
    const cases = [
      { method: "GET", url: "/%zz<script>", status: 400 },
      { method: "POST", url: `/sessions/${"a".repeat(300)}/end`, status: 414 },
      { method: "POST", url: "/login", headers: { "sec-fetch-site": "cross-site" }, status: 403 },
      { method: "GET", url: "/no-such-page", status: 404 },
    ] as const;
    for (const { method, url, status, ...rest } of cases) {
      const headers = "headers" in rest ? rest.headers : {};
      const response = await app.inject({ method, url, headers });
      assert.equal(response.statusCode, status, url.slice(0, 40));
      assertHeaders(response.headers, url.slice(0, 40));
      assert.match(String(response.headers["content-type"]), /^text\/html/);
      assert.doesNotMatch(response.body, /FST_ERR|<script>|aaaaaaaaaa/, "nothing of the request is echoed");
    }
  });

  test("the HTTP parser's client errors (400, 431) are answered with the headers too", async () => {
    const malformed = await raw(port, "GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n");
    assert.match(malformed, /^HTTP\/1\.1 400 /);
    const huge = await raw(port, `GET / HTTP/1.1\r\nHost: x\r\nCookie: ${"a".repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    for (const answer of [malformed, huge]) {
      const head = answer.slice(0, answer.indexOf("\r\n\r\n")).toLowerCase();
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        assert.ok(head.includes(`${name}: ${value.toLowerCase()}`), `${name} in ${head.slice(0, 60)}`);
      }
      assert.match(answer, /<!doctype html>/);
    }
  });

  test("an HTTP/1.1 request without a Host header gets the app's 400 page with the headers", async () => {
    const answer = await raw(port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.match(answer, /^HTTP\/1\.1 400 /);
    const head = answer.slice(0, answer.indexOf("\r\n\r\n")).toLowerCase();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      assert.ok(head.includes(`${name}: ${value.toLowerCase()}`), `${name} in ${head.slice(0, 60)}`);
    }
    assert.match(answer, /<!doctype html>/);
    // HTTP/1.0 has no Host requirement: served as before.
    assert.match(await raw(port, "GET / HTTP/1.0\r\n\r\n"), /^HTTP\/1\.1 200 /);
  });
});
