/**
 * The `latchkey` command, spawned as a process (as an operator runs it) against a real standalone
 * Redis and a real Cluster, through ioredis and through node-redis.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort } from "../../test/harness/redis-process.js";
import { startRedisCluster, startRedisSentinel, startRedisServer } from "../../test/harness/redis-servers.js";
import { createSessionManager } from "../core/session-manager.js";
import { storageIdOf } from "../core/token.js";
import { createRedisStore } from "../stores/redis/redis-store.js";

const ENTRY = fileURLToPath(new URL("./latchkey.ts", import.meta.url));
const PASSWORD = "s3cret-pass";

interface Result {
  status: number;
  stdout: string;
  stderr: string;
  ms: number;
}

async function latchkey(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const started = Date.now();
  const clean = { ...process.env };
  delete clean.REDIS_URL;
  delete clean.REDIS_CLUSTER_URL;
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", ENTRY, ...args],
      {
        env: { ...clean, ...env },
        timeout: 30_000,
      },
    );
    return { status: 0, stdout, stderr, ms: Date.now() - started };
  } catch (error) {
    const failed = error as { code?: number; stdout: string; stderr: string };
    return {
      status: failed.code ?? -1,
      stdout: failed.stdout,
      stderr: failed.stderr,
      ms: Date.now() - started,
    };
  }
}

/** No output shows a token, a storage id or the password. */
function assertNothingSecret(result: Result, tokens: string[]): void {
  const text = result.stdout + result.stderr;
  assert.ok(!text.includes(PASSWORD), "no password in the output");
  for (const token of tokens) {
    assert.ok(!text.includes(token), "no token in the output");
    assert.ok(!text.includes(storageIdOf(token)), "no storage id in the output");
  }
}

for (const library of ["ioredis", "redis"]) {
  describe(`latchkey command through ${library}, standalone Redis`, () => {
    let stop: () => Promise<void> = async () => {};
    let url = "";
    const tokens: string[] = [];
    const ids: string[] = [];
    const run = (args: string[]) =>
      latchkey(["--redis-url", url, ...args], { LATCHKEY_REDIS_CLIENT: library });

    before(async () => {
      const redis = await startRedisServer({ args: ["--requirepass", PASSWORD] });
      stop = redis.stop;
      url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
      const store = createRedisStore({ url });
      const sessions = createSessionManager({ store });
      for (const userId of ["ada", "ada", "bob"]) {
        const { token, session } = await sessions.create(userId, { ip: "192.0.2.7", userAgent: "Firefox" });
        tokens.push(token);
        if (userId === "ada") ids.push(session.id);
      }
      tokens.push((await sessions.createAnonymous()).token);
      await store.close();
    });
    after(() => stop());

    it("lists a user's sessions, as a table and as one JSON document", async () => {
      const listed = await run(["sessions", "list", "ada", "--json"]);
      assert.equal(listed.status, 0, listed.stderr);
      const document = JSON.parse(listed.stdout) as {
        userId: string;
        sessions: { id: string; ip: string }[];
      };
      assert.deepEqual(
        document.sessions.map((s) => s.id),
        ids,
      );
      assert.equal(document.sessions[0]?.ip, "192.0.2.7");
      const table = await run(["sessions", "list", "ada"]);
      assert.equal(table.status, 0);
      for (const id of ids) assert.match(table.stdout, new RegExp(id));
      assertNothingSecret(listed, tokens);
      assertNothingSecret(table, tokens);
    });

    it("counts live sessions, ends one by public id, then all of a user's", async () => {
      const counted = await run(["sessions", "count", "--json"]);
      assert.equal(counted.status, 0, counted.stderr);
      assert.deepEqual(JSON.parse(counted.stdout), { sessions: 4, masters: 1 });
      const one = await run(["sessions", "end", "ada", ids[0] as string]);
      assert.equal(one.status, 0, one.stderr);
      const again = await run(["sessions", "end", "ada", ids[0] as string]);
      assert.equal(again.status, 1);
      assert.equal(again.stderr.trim().split("\n").length, 1, again.stderr);
      const all = await run(["sessions", "end", "ada", "--json"]);
      assert.deepEqual(JSON.parse(all.stdout), { userId: "ada", ended: 1 });
      assert.equal((await run(["sessions", "count"])).stdout.trim(), "2");
      assertNothingSecret(all, tokens);
    });

    it("reports health, and REDIS_URL works instead of --redis-url", async () => {
      const health = await latchkey(["health", "--json"], { REDIS_URL: url, LATCHKEY_REDIS_CLIENT: library });
      assert.equal(health.status, 0, health.stderr);
      assert.equal((JSON.parse(health.stdout) as { status: string }).status, "ok");
      assertNothingSecret(health, tokens);
    });

    it("fails in one line within its timeout when Redis does not answer, or refuses the password", async () => {
      const port = await freePort();
      const down = await latchkey(
        ["--redis-url", `redis://:${PASSWORD}@127.0.0.1:${port}`, "--timeout-ms", "1000", "health"],
        { LATCHKEY_REDIS_CLIENT: library },
      );
      assert.equal(down.status, 1);
      assert.equal(down.stderr.trim().split("\n").length, 1, down.stderr);
      assert.match(down.stderr, /^latchkey: cannot connect to Redis at 127\.0\.0\.1:\d+/);
      assert.ok(down.ms < 10_000, `${down.ms} ms`);
      const wrong = await latchkey(["--redis-url", url.replace(PASSWORD, "wrong-one"), "health"], {
        LATCHKEY_REDIS_CLIENT: library,
      });
      assert.equal(wrong.status, 1);
      assert.equal(wrong.stderr.trim().split("\n").length, 1, wrong.stderr);
      assert.ok(!wrong.stderr.includes("wrong-one"));
      assertNothingSecret(down, []);
    });

    // Usage errors are found before any client library loads: checked once, through ioredis.
    const onceOnly = library === "ioredis" ? it : () => {};
    onceOnly("exits 2 on a usage error", async () => {
      for (const args of [
        [],
        ["sessions"],
        ["sessions", "frob"],
        ["sessions", "list"],
        ["--nope", "health"],
      ]) {
        const result = await run(args);
        assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, /usage:/);
      }
      const nowhere = await latchkey(["health"]);
      assert.equal(nowhere.status, 2);
      assert.match(nowhere.stderr, /--redis-url/);
    });
  });

  describe(`latchkey command through ${library}, Redis Cluster`, () => {
    let stop: () => Promise<void> = async () => {};
    let nodes = "";
    const tokens: string[] = [];
    let adaIds: string[] = [];
    const run = (args: string[]) =>
      latchkey(["--cluster-nodes", nodes, ...args], { LATCHKEY_REDIS_CLIENT: library });

    before(async () => {
      const cluster = await startRedisCluster();
      stop = cluster.stop;
      nodes = cluster.urls.join(",");
      const store = createRedisStore({ clusterNodes: cluster.urls });
      const sessions = createSessionManager({ store });
      // 40 users: their slot tags spread them over the three masters.
      for (let i = 0; i < 40; i++) tokens.push((await sessions.create(`user-${i}`)).token);
      for (let i = 0; i < 2; i++) tokens.push((await sessions.create("ada")).token);
      adaIds = (await sessions.listForUser("ada")).map((s) => s.id);
      await store.close();
    });
    after(() => stop());

    it("counts the sessions of every master, lists and ends a user's", async () => {
      const counted = await run(["sessions", "count", "--json"]);
      assert.equal(counted.status, 0, counted.stderr);
      assert.deepEqual(JSON.parse(counted.stdout), { sessions: 42, masters: 3 });
      const listed = await run(["sessions", "list", "ada", "--json"]);
      assert.deepEqual(
        (JSON.parse(listed.stdout) as { sessions: { id: string }[] }).sessions.map((s) => s.id),
        adaIds,
      );
      const ended = await run(["sessions", "end", "ada"]);
      assert.equal(ended.status, 0, ended.stderr);
      assert.match(ended.stdout, /ended 2 sessions of ada/);
      const health = await run(["health", "--json"]);
      const report = JSON.parse(health.stdout) as { status: string; nodes: unknown[] };
      assert.equal(report.status, "ok");
      assert.equal(report.nodes.length, 3);
      for (const result of [counted, listed, ended, health]) assertNothingSecret(result, tokens);
    });
  });
}

describe("latchkey command through ioredis, Sentinel", () => {
  const stops: (() => Promise<void>)[] = [];
  let sentinels = "";
  let token = "";
  let id = "";

  before(async () => {
    const master = await startRedisServer({ args: ["--requirepass", PASSWORD] });
    stops.push(master.stop);
    const sentinel = await startRedisSentinel({ masterPort: master.port, masterPassword: PASSWORD });
    stops.push(sentinel.stop);
    // The data nodes' password comes with the sentinels' address, as in a URL.
    sentinels = `redis://:${PASSWORD}@127.0.0.1:${sentinel.port}`;
    const store = createRedisStore({ url: `redis://:${PASSWORD}@127.0.0.1:${master.port}` });
    ({
      token,
      session: { id },
    } = await createSessionManager({ store }).create("ada"));
    await store.close();
  });
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  it("lists and ends a user's session through the master the Sentinels name", async () => {
    const run = (args: string[]) =>
      latchkey(["--sentinels", sentinels, "--sentinel-name", "mymaster", ...args]);
    const listed = await run(["sessions", "list", "ada", "--json"]);
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { sessions: { id: string }[] }).sessions.map((s) => s.id),
      [id],
    );
    const ended = await run(["sessions", "end", "ada", id]);
    assert.equal(ended.status, 0, ended.stderr);
    assert.equal((await run(["sessions", "count"])).stdout.trim(), "0");
    assertNothingSecret(listed, [token]);
    assertNothingSecret(ended, [token]);
    assert.equal((await latchkey(["--sentinels", sentinels, "health"])).status, 2, "no --sentinel-name");
  });
});
