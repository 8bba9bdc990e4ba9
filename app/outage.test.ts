/**
 * Redis outages: the app answers 503 quickly while Redis is down (mid-run or from the start), and
 * recovers by itself when a server is back on the same port.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { freePort } from "../test/harness/redis-process.js";
import { type RedisServerHandle, startRedisServer } from "../test/harness/redis-servers.js";
import { respCommand, respTargetOf } from "../test/harness/resp-client.js";
import { buildApp } from "./app.js";
import { DEFAULT_CONFIG } from "./config.js";
import { createTestClient, uniqueName } from "./test-client.js";

const PASSWORD = "correct horse battery";
const HEALTH_TOKEN = "health-details-token-for-tests";
/** The credential that shows /healthz's details (HEALTHZ_DETAILS_TOKEN). */
const DETAILS = { authorization: `Bearer ${HEALTH_TOKEN}` };

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const start = performance.now();
  const result = await work();
  return { result, ms: performance.now() - start };
}

/** Polls until `check` is true, failing after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function restartOn(port: number): Promise<RedisServerHandle> {
  return startRedisServer({ args: ["--port", String(port)] });
}

describe("Redis outages", () => {
  test("Redis dies mid-run: 503 within 1.5 s, /healthz 503, then recovery on restart", async () => {
    let redis = await startRedisServer();
    const logLines: string[] = [];
    let app: FastifyInstance | undefined;
    try {
      app = await buildApp(
        { ...DEFAULT_CONFIG, store: { kind: "redis", url: redis.url }, healthDetailsToken: HEALTH_TOKEN },
        { logStream: { write: (line: string) => void logLines.push(line) } },
      );
      const browser = createTestClient(app);
      await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
      assert.match((await browser.get("/")).body, /Logged in as/);

      await redis.stop();

      const home = await timed(() => browser.get("/"));
      assert.equal(home.result.status, 503);
      assert.ok(home.ms < 1500, `503 took ${Math.round(home.ms)} ms`);
      assert.match(home.result.body, /Service temporarily unavailable/);
      assert.equal(home.result.headers["retry-after"], "5");
      assert.ok(browser.cookie !== undefined, "the cookie survives an outage");

      const login = await timed(() =>
        createTestClient(app as FastifyInstance).post("/login", { username: "x-y-z", password: PASSWORD }),
      );
      assert.equal(login.result.status, 503);
      assert.ok(login.ms < 1500, `login 503 took ${Math.round(login.ms)} ms`);

      const health = await timed(() => browser.get("/healthz", DETAILS));
      assert.equal(health.result.status, 503);
      const body = JSON.parse(health.result.body);
      assert.equal(body.status, "down");
      assert.equal(body.store.kind, "redis");
      assert.equal(body.store.nodes[0].writes, false);
      assert.ok(body.store.problems.length > 0);
      assert.ok(health.ms < 1500, `healthz took ${Math.round(health.ms)} ms`);

      // Pages that need no store still work; pages that need it keep failing, without a log line each.
      assert.equal((await createTestClient(app).get("/")).status, 200);
      for (let i = 0; i < 20; i++) assert.equal((await browser.get("/")).status, 503);

      redis = await restartOn(redis.port);
      await eventually(async () => (await browser.get("/healthz")).status === 200, 10_000, "/healthz 200");
      const back = await browser.get("/");
      assert.equal(back.status, 200);
      // The restarted server is empty (no persistence in tests), so the user logs in again.
      const again = createTestClient(app);
      await again.post("/signup", { username: uniqueName(), password: PASSWORD });
      assert.match((await again.get("/")).body, /Logged in as/);
      // One error line when the outage began, saying what happened; one line when it ended.
      const logged = logLines.map((line) => JSON.parse(line) as { level: number; msg: string });
      const errors = logged.filter((line) => line.level >= 50);
      assert.equal(errors.length, 1, `error lines: ${JSON.stringify(errors)}`);
      assert.match(errors[0]?.msg ?? "", /^session store down: .*(closed the connection|connection refused)/);
      assert.doesNotMatch(errors[0]?.msg ?? "", /rediss:/, "no TLS hint for a server that worked");
      assert.equal(logged.filter((line) => /session store recovered after/.test(line.msg)).length, 1);
      assert.ok(!logged.some((line) => line.msg === "session store unavailable"), "no line per request");
    } finally {
      await app?.close();
      await redis.stop();
    }
  });

  test("Redis hangs (CLIENT PAUSE): 503 within 1.5 s, then normal service", async () => {
    const redis = await startRedisServer();
    const app = await buildApp({
      ...DEFAULT_CONFIG,
      store: { kind: "redis", url: redis.url },
      logLevel: "silent",
    });
    try {
      const browser = createTestClient(app);
      await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
      assert.match((await browser.get("/")).body, /Logged in as/);
      await respCommand(respTargetOf(redis.url), "CLIENT", "PAUSE", "2500", "ALL");
      const home = await timed(() => browser.get("/"));
      assert.equal(home.result.status, 503);
      assert.ok(home.ms < 1500, `503 took ${Math.round(home.ms)} ms`);
      const health = await timed(() => browser.get("/healthz"));
      assert.equal(health.result.status, 503);
      assert.ok(health.ms < 1500, `healthz took ${Math.round(health.ms)} ms`);
      await eventually(async () => (await browser.get("/healthz")).status === 200, 10_000, "/healthz 200");
      assert.match((await browser.get("/")).body, /Logged in as/, "the session outlives the pause");
    } finally {
      await app.close();
      await redis.stop();
    }
  });

  test("Redis unreachable at start: the server answers 503, retries with logs, then serves", async () => {
    const port = await freePort();
    const logLines: string[] = [];
    const app = await buildApp(
      { ...DEFAULT_CONFIG, store: { kind: "redis", url: `redis://127.0.0.1:${port}` } },
      { logStream: { write: (line: string) => void logLines.push(line) } },
    );
    let redis: RedisServerHandle | undefined;
    try {
      await app.ready();
      const browser = createTestClient(app);
      assert.equal((await browser.get("/healthz")).status, 503);
      assert.equal((await browser.get("/")).status, 200, "an anonymous home page needs no store");
      const signup = await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
      assert.equal(signup.status, 503);
      await eventually(
        async () => logLines.some((line) => line.includes("session store unreachable at start")),
        5000,
        "the start-up error",
      );
      // Retries continue in the background (503 meanwhile), without a line each.
      assert.equal((await browser.get("/healthz")).status, 503);
      const unreachable = logLines.filter((line) => line.includes("session store unreachable"));
      assert.equal(unreachable.length, 1, unreachable.join("\n"));
      const retry = JSON.parse(unreachable[0] ?? "{}");
      assert.equal(retry.level, 50);
      assert.match(retry.reason, /connection refused/);

      redis = await restartOn(port);
      await eventually(async () => (await browser.get("/healthz")).status === 200, 10_000, "/healthz 200");
      await eventually(
        async () => logLines.some((line) => line.includes("session store reachable")),
        10_000,
        "log",
      );
      const reachable = JSON.parse(logLines.find((line) => line.includes("session store reachable")) ?? "{}");
      assert.equal(typeof reachable.unreachableForMs, "number");
      const ok = await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
      assert.equal(ok.status, 303);
    } finally {
      await app.close();
      await redis?.stop();
    }
  });
});
