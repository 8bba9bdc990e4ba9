import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import Fastify from "fastify";
import { pino } from "pino";
import { lazyChildLoggerFactory } from "./request-logger.js";

/** A pino logger at `level` whose lines land in `lines`, and a count of the children it made. */
function capturingLogger(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level }, stream);
  let children = 0;
  const child = logger.child.bind(logger);
  logger.child = ((...args: Parameters<typeof child>) => {
    children += 1;
    return child(...args);
  }) as typeof logger.child;
  return { logger, lines, children: () => children };
}

async function appWith(level: string) {
  const captured = capturingLogger(level);
  const app = Fastify({ loggerInstance: captured.logger, childLoggerFactory: lazyChildLoggerFactory });
  app.get("/quiet", async (request) => {
    request.log.info("below the level");
    return "ok";
  });
  app.get("/warns", async (request) => {
    request.log.warn({ detail: 42 }, "something odd");
    return "ok";
  });
  app.get("/fails", async () => {
    throw new Error("boom");
  });
  app.get("/debug-route", { logLevel: "debug" }, async (request) => {
    request.log.debug("route-level debug");
    return "ok";
  });
  await app.ready();
  return { app, ...captured };
}

describe("lazy request child logger", () => {
  it("builds no child for a request that logs nothing at an enabled level", async () => {
    const { app, lines, children } = await appWith("warn");
    const before = children();
    assert.equal((await app.inject("/quiet")).statusCode, 200);
    assert.equal(children() - before, 0);
    assert.deepEqual(lines, []);
    await app.close();
  });

  it("writes a line with the request id, message and fields when a request logs", async () => {
    const { app, lines } = await appWith("warn");
    const response = await app.inject("/warns");
    assert.equal(response.statusCode, 200);
    const line = lines.find((l) => l.msg === "something odd");
    assert.ok(line, "the warning was written");
    assert.equal(line.level, 40);
    assert.equal(line.detail, 42);
    assert.match(String(line.reqId), /^req-/);
    await app.close();
  });

  it("Fastify's own error log for a failed request carries the request id", async () => {
    const { app, lines } = await appWith("warn");
    assert.equal((await app.inject("/fails")).statusCode, 500);
    const line = lines.find((l) => l.level === 50);
    assert.ok(line, "the error was logged");
    assert.match(String(line.reqId), /^req-/);
    await app.close();
  });

  it("at info, Fastify's request lines are written with the request id as before", async () => {
    const { app, lines } = await appWith("info");
    await app.inject("/quiet");
    const ids = new Set(lines.map((l) => l.reqId));
    assert.ok(lines.some((l) => l.msg === "incoming request"));
    assert.ok(lines.some((l) => l.msg === "request completed"));
    assert.ok(lines.some((l) => l.msg === "below the level"));
    assert.equal(ids.size, 1, "every line of the request has the same request id");
    await app.close();
  });

  it("a route's own log level still applies (an eager child with that level)", async () => {
    const { app, lines } = await appWith("warn");
    await app.inject("/debug-route");
    assert.ok(lines.some((l) => l.msg === "route-level debug" && l.level === 20));
    await app.close();
  });
});
