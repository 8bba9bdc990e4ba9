/**
 * /healthz and the outage log against real Redis servers: a healthy server (ok, 200), one out of
 * memory (degraded, 200: views work, logins 503), a Cluster with one master stopped (degraded, 200), and the start-up warning
 * about a Redis without persistence.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { startRedisCluster, startRedisServer } from "../test/harness/redis-servers.js";
import { respCommand } from "../test/harness/resp-client.js";
import { buildApp } from "./app.js";
import { type Config, DEFAULT_CONFIG } from "./config.js";
import { createTestClient, uniqueName } from "./test-client.js";

const PASSWORD = "correct horse battery";
const HEALTH_TOKEN = "health-details-token-for-tests";
/** The credential that shows /healthz's details (HEALTHZ_DETAILS_TOKEN). */
const DETAILS = { authorization: `Bearer ${HEALTH_TOKEN}` };

/** Polls until `check` is true, failing after `timeoutMs`. */
async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Logged {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** An app on `store` whose log lines are kept, parsed. */
async function appWithLog(store: Config["store"]): Promise<{ app: FastifyInstance; lines: Logged[] }> {
  const lines: Logged[] = [];
  const app = await buildApp(
    { ...DEFAULT_CONFIG, store, healthDetailsToken: HEALTH_TOKEN },
    { logStream: { write: (line: string) => void lines.push(JSON.parse(line) as Logged) } },
  );
  return { app, lines };
}

describe("/healthz and the store's state", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test("healthy: 200 ok, reads and writes on the server", async () => {
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const { app } = await appWithLog({ kind: "redis", url: redis.url });
    cleanups.push(() => app.close());
    const health = await createTestClient(app).get("/healthz", DETAILS);
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), {
      status: "ok",
      store: {
        kind: "redis",
        problems: [],
        nodes: [{ address: `127.0.0.1:${redis.port}`, reads: true, writes: true }],
      },
    });
  });

  test("out of memory (maxmemory 1, noeviction): degraded, views work, logins 503, one error line, then recovery", async () => {
    const redis = await startRedisServer({ args: ["--requirepass", "s3cret-pass"] });
    cleanups.push(() => redis.stop());
    const raw = (...command: string[]) =>
      respCommand({ host: "127.0.0.1", port: redis.port, password: "s3cret-pass" }, ...command);
    const { app, lines } = await appWithLog({
      kind: "redis",
      url: `redis://:s3cret-pass@127.0.0.1:${redis.port}`,
    });
    cleanups.push(() => app.close());
    const browser = createTestClient(app);
    assert.equal((await browser.get("/healthz", DETAILS)).status, 200);
    const signedIn = createTestClient(app);
    const signedUp = await signedIn.post("/signup", { username: uniqueName(), password: PASSWORD });
    assert.equal(signedUp.status, 303);

    await raw("CONFIG", "SET", "maxmemory-policy", "noeviction");
    await raw("CONFIG", "SET", "maxmemory", "1");
    const health = await browser.get("/healthz", DETAILS);
    // Views still work on a full Redis (a load balancer must not eject every instance), logins do not.
    assert.equal(health.status, 200);
    const body = JSON.parse(health.body);
    assert.equal(body.status, "degraded");
    assert.equal(body.store.nodes[0].reads, true);
    assert.equal(body.store.nodes[0].writes, false);
    assert.match(body.store.problems[0], /Redis is out of memory/);
    assert.doesNotMatch(health.body, /s3cret-pass/);

    const view = await signedIn.get("/");
    assert.equal(view.status, 200, "a signed-in user's page works on a full Redis");
    assert.match(view.body, /Logged in as/);
    for (let i = 0; i < 5; i++) {
      const signup = await createTestClient(app).post("/signup", {
        username: uniqueName(),
        password: PASSWORD,
      });
      assert.equal(signup.status, 503);
      assert.match(signup.body, /The session store is full/);
    }
    const errors = lines.filter((line) => line.level >= 50);
    assert.equal(errors.length, 1, `error lines: ${JSON.stringify(errors)}`);
    assert.match(errors[0]?.msg ?? "", /session store degraded .*Redis is out of memory/);

    await raw("CONFIG", "SET", "maxmemory", "0");
    await eventually(
      async () => (await browser.get("/healthz", DETAILS)).status === 200,
      10_000,
      "/healthz 200",
    );
    const recovered = lines.filter((line) => /session store recovered after/.test(line.msg));
    assert.equal(recovered.length, 1);
    assert.equal(typeof recovered[0]?.outageMs, "number");
    assert.equal(lines.filter((line) => line.level >= 50).length, 1, "still one error line");
    assert.doesNotMatch(JSON.stringify(lines), /s3cret-pass/);
  });

  test("a Cluster with one master stopped: 200 degraded, naming the master; the others serve", async () => {
    const cluster = await startRedisCluster({ masters: 3 });
    cleanups.push(() => cluster.stop());
    // As on ElastiCache: the other masters keep serving their slots while one is down.
    for (const port of cluster.ports) {
      await respCommand({ host: "127.0.0.1", port }, "CONFIG", "SET", "cluster-require-full-coverage", "no");
    }
    const { app, lines } = await appWithLog({ kind: "redis-cluster", nodes: [cluster.urls[0] as string] });
    cleanups.push(() => app.close());
    const browser = createTestClient(app);
    await eventually(
      async () => (await browser.get("/healthz", DETAILS)).status === 200,
      10_000,
      "/healthz 200",
    );
    const healthy = JSON.parse((await browser.get("/healthz", DETAILS)).body);
    assert.equal(healthy.status, "ok");
    assert.equal(healthy.store.nodes.length, 3);
    assert.ok(
      healthy.store.nodes.every((node: { reads: boolean; writes: boolean }) => node.reads && node.writes),
    );

    const victim = cluster.ports[2] as number;
    await respCommand({ host: "127.0.0.1", port: victim }, "SHUTDOWN", "NOSAVE").catch(() => undefined);
    let body: {
      status: string;
      store: { problems: string[]; nodes: { address: string; reads: boolean; writes: boolean }[] };
    } = healthy;
    let status = 0;
    await eventually(
      async () => {
        const page = await browser.get("/healthz", DETAILS);
        status = page.status;
        body = JSON.parse(page.body);
        return body.status === "degraded";
      },
      10_000,
      "/healthz degraded",
    );
    assert.equal(status, 200, "a load balancer keeps an instance whose Cluster is degraded");
    const down = body.store.nodes.filter((node) => !(node.reads && node.writes));
    assert.deepEqual(
      down.map((node) => node.address),
      [`127.0.0.1:${victim}`],
    );
    assert.equal(body.store.nodes.filter((node) => node.reads && node.writes).length, 2);
    assert.ok(body.store.problems.some((problem) => problem.includes(String(victim))));
    const errors = lines.filter((line) => line.level >= 50);
    assert.equal(errors.length, 1, `error lines: ${JSON.stringify(errors)}`);
    assert.match(errors[0]?.msg ?? "", /session store degraded/);
  });

  test("start-up warning: a Redis with neither RDB saves nor AOF, and none with AOF on", async () => {
    const bare = await startRedisServer(); // the harness starts servers with --save "" --appendonly no
    cleanups.push(() => bare.stop());
    const warned = await appWithLog({ kind: "redis", url: bare.url });
    cleanups.push(() => warned.app.close());
    const noPersistence = (line: Logged) => /Redis keeps no persistence/.test(line.msg);
    await eventually(() => warned.lines.some(noPersistence), 10_000, "the persistence warning");
    const warning = warned.lines.find(noPersistence);
    assert.equal(warning?.level, 40);
    assert.match(warning?.msg ?? "", /lost when it restarts/);
    assert.deepEqual(warning?.servers, [`127.0.0.1:${bare.port}`]);
    assert.equal(
      (await createTestClient(warned.app).get("/healthz", DETAILS)).status,
      200,
      "the app runs anyway",
    );

    const dir = await mkdtemp(join(tmpdir(), "latchkey-aof-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const durable = await startRedisServer({ args: ["--appendonly", "yes", "--dir", dir] });
    cleanups.push(() => durable.stop());
    const quiet = await appWithLog({ kind: "redis", url: durable.url });
    cleanups.push(() => quiet.app.close());
    await eventually(
      () => quiet.lines.some((line) => /Redis persists its data/.test(line.msg)),
      10_000,
      "the persistence check",
    );
    assert.ok(!quiet.lines.some(noPersistence));
  });
});
