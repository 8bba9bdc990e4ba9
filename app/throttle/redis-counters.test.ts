/**
 * Redis counters on real redis-servers (the test harness's, never the shared one on 6379): the shared
 * rules (counters-conformance.ts) on one server and on a 3-master Cluster, then what only Redis can
 * get wrong (a counter left without TTL, the key layout, scripts flushed) and its failures, each a
 * StoreUnavailableError within the 1 s bound. Last, how the app wires them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Cluster, Redis } from "ioredis";
import { isStoreUnavailable, userTagOf } from "latchkey";
import { createRedisStore } from "latchkey/redis";
import { keySlot } from "../../src/stores/redis/key-slot.js";
import { freePort } from "../../test/harness/redis-process.js";
import {
  type RedisClusterHandle,
  type RedisServerHandle,
  startRedisCluster,
  startRedisServer,
} from "../../test/harness/redis-servers.js";
import { buildApp } from "../app.js";
import { DEFAULT_CONFIG } from "../config.js";
import { createLoginThrottle, throttleKeys } from "../login-throttle.js";
import { createTestClient, uniqueName } from "../test-client.js";
import { counterTests } from "./counters-conformance.js";
import { createRedisCounters, DEFAULT_KEY_PREFIX, type RedisCounters } from "./redis-counters.js";

const PREFIX = DEFAULT_KEY_PREFIX;
let keyNumber = 0;
const uniqueKey = (name: string) => `${name}-${process.pid}-${++keyNumber}`;

/** Expects a StoreUnavailableError from `action`; returns it with how long the call took. */
async function unavailable(action: () => Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const started = performance.now();
  try {
    await action();
  } catch (error) {
    assert.ok(isStoreUnavailable(error), `expected StoreUnavailableError, got ${String(error)}`);
    assert.equal((error as Error).name, "StoreUnavailableError");
    return { error: error as Error, ms: performance.now() - started };
  }
  assert.fail("the call succeeded");
}

describe("Redis counters on one server", () => {
  let server: RedisServerHandle;
  let counters: RedisCounters;
  let raw: Redis;
  before(async () => {
    server = await startRedisServer();
    counters = createRedisCounters({ url: server.url });
    raw = new Redis(server.url);
  });
  after(async () => {
    await counters.close();
    raw.disconnect();
    await server.stop();
  });

  describe("the counter rules", () => {
    counterTests(() => ({
      counters,
      key: uniqueKey,
      exists: async (key) => (await raw.exists(PREFIX + key)) === 1,
    }));
  });

  it("a counter always has a TTL, within its window, from its first hit on; a refund keeps it", async () => {
    const keys = Array.from({ length: 30 }, () => uniqueKey("ttl"));
    // Concurrent first hits on every key: no INCR may be left without its PEXPIRE.
    await Promise.all(keys.flatMap((key) => Array.from({ length: 5 }, () => counters.hit(key, 60_000))));
    for (const key of keys) {
      const ttl = await raw.pttl(PREFIX + key);
      assert.ok(ttl > 0 && ttl <= 60_000, `${key}: PTTL ${ttl}`);
      assert.equal(await raw.get(PREFIX + key), "5");
    }
    const [key] = keys as [string];
    const before = await raw.pttl(PREFIX + key);
    assert.equal(await counters.refund(key), 4);
    const afterRefund = await raw.pttl(PREFIX + key);
    assert.ok(afterRefund > 0 && afterRefund <= before, `refund moved the TTL: ${before} -> ${afterRefund}`);
    assert.equal(await counters.hit(key, 1000), 5, "a later hit with another window does not restart it");
    assert.ok((await raw.pttl(PREFIX + key)) > 1000, "nor shorten it");
  });

  it("a counter that lost its TTL gets one at its next hit: none is left to lock for ever", async () => {
    const key = uniqueKey("no-ttl");
    await raw.set(PREFIX + key, "7");
    assert.equal(await raw.pttl(PREFIX + key), -1);
    assert.equal(await counters.hit(key, 60_000), 8);
    const ttl = await raw.pttl(PREFIX + key);
    assert.ok(ttl > 0 && ttl <= 60_000, `PTTL ${ttl}`);
  });

  it("a window of a fraction of a millisecond is rounded up to one whole millisecond", async () => {
    const key = uniqueKey("fraction");
    assert.equal(await counters.hit(key, 0.4), 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await counters.hits(key), 0);
  });

  it("scripts flushed (a restart, a new node): the next call loads them again (NOSCRIPT, then EVAL)", async () => {
    const key = uniqueKey("noscript");
    assert.equal(await counters.hit(key, 60_000), 1);
    await raw.script("FLUSH");
    assert.equal(await counters.hit(key, 60_000), 2);
    assert.equal(await counters.refund(key), 1);
  });

  it("the throttle's keys: under lk:throttle:, apart from latchkey's, an account's beside its sessions", async () => {
    const throttle = createLoginThrottle(counters, { maxPerAccount: 0 });
    const userId = uniqueKey("owner");
    const client = "198.51.100.7";
    // Past maxPerAccount (0): every counter of a login is written, the slowing one included.
    assert.equal(await throttle.reserveLogin(userId, client), 0);
    await throttle.loginSucceeded(userId, client);
    assert.equal(await throttle.admitSignup(client), 0);
    const keys = await raw.keys(`*${userId}*`);
    const tag = `{${userTagOf(userId)}}`;
    assert.deepEqual(keys.sort(), [
      `${PREFIX}${tag}login:account:${userId}`,
      `${PREFIX}${tag}login:known:${userId}:client:${client}`,
      `${PREFIX}${tag}login:slow:${userId}`,
    ]);
    for (const key of keys) {
      assert.equal(keySlot(key), keySlot(tag), `${key} is in the slot of the user's sessions`);
      assert.ok((await raw.pttl(key)) > 0, `${key} has a TTL`);
    }
    for (const key of [throttleKeys.clientKey(client), throttleKeys.signupKey(client)]) {
      assert.ok((await raw.pttl(PREFIX + key)) > 0, `${key} is held, with a TTL`);
    }
    // latchkey's keys are `lk:` and one letter and a colon: none of the throttle's looks like one.
    const all = await raw.keys("*");
    assert.ok(all.length > 0);
    assert.ok(
      all.every((key) => key.startsWith(PREFIX) && !/^lk:[a-z]:/.test(key)),
      all.join(", "),
    );
  });

  it("the throttle on Redis: of 40 concurrent attempts exactly the limit is admitted", async () => {
    const throttle = createLoginThrottle(counters);
    const victim = uniqueKey("victim");
    const waits = await Promise.all(
      Array.from({ length: 40 }, () => throttle.reserveLogin(victim, "203.0.113.9")),
    );
    assert.equal(waits.filter((wait) => wait === 0).length, 5);
    assert.ok(waits.filter((wait) => wait !== 0).every((wait) => wait === 900));
  });

  it("refuses a key prefix with braces (it would choose the hash tag) and bad timeouts", () => {
    assert.throws(() => createRedisCounters({ url: server.url, keyPrefix: "{app}:" }), {
      code: "INVALID_OPTION",
    });
    assert.throws(() => createRedisCounters({ url: server.url, commandTimeoutMs: 0 }), {
      code: "INVALID_OPTION",
    });
    assert.throws(() => createRedisCounters({}), { code: "INVALID_OPTION" });
  });
});

describe("Redis counters on a Cluster", () => {
  let cluster: RedisClusterHandle;
  let counters: RedisCounters;
  let raw: Cluster;
  before(async () => {
    cluster = await startRedisCluster({ masters: 3 });
    counters = createRedisCounters({ clusterNodes: cluster.urls });
    raw = new Cluster(cluster.ports.map((port) => ({ host: "127.0.0.1", port })));
  });
  after(async () => {
    await counters.close();
    raw.disconnect();
    await cluster.stop();
  });

  describe("the counter rules", () => {
    counterTests(() => ({
      counters,
      // Tagged and untagged keys, as the throttle's: they land on every master.
      key: (name) =>
        keyNumber % 2 === 0 ? `{${userTagOf(uniqueKey("user"))}}${uniqueKey(name)}` : uniqueKey(name),
      exists: async (key) => (await raw.exists(PREFIX + key)) === 1,
    }));
  });

  it("a login's counters on a Cluster: accounts spread over every master, each counter with a TTL", async () => {
    const throttle = createLoginThrottle(counters, { maxPerAccount: 0 });
    const masters = new Set<string>();
    // 30 users: the chance that their tags all miss one of 3 masters is about 1 in 60,000.
    for (let i = 0; i < 30; i++) {
      const userId = uniqueKey("member");
      const client = `192.0.2.${i + 1}`;
      assert.equal(await throttle.reserveLogin(userId, client), 0);
      await throttle.loginSucceeded(userId, client);
      const key = PREFIX + throttleKeys.accountKey(userId);
      assert.equal(await raw.exists(key), 1);
      assert.ok((await raw.pttl(key)) > 0);
      const master = raw.slots[keySlot(key)]?.[0];
      assert.ok(master !== undefined);
      masters.add(master);
    }
    assert.equal(masters.size, 3, [...masters].join(", "));
  });
});

describe("Redis counters when Redis fails", () => {
  it("Redis stops: every call fails at once as StoreUnavailableError; they count again once it is back", async () => {
    let server = await startRedisServer();
    const counters = createRedisCounters({ url: server.url });
    try {
      assert.equal(await counters.hit("before", 60_000), 1);
      await server.stop();
      const calls: [string, () => Promise<unknown>][] = [
        ["hit", () => counters.hit("k", 1000)],
        ["hits", () => counters.hits("k")],
        ["refund", () => counters.refund("k")],
        ["delete", () => counters.delete("k")],
        ["ping", () => counters.ping()],
      ];
      for (const [name, call] of calls) {
        const { error, ms } = await unavailable(call);
        assert.ok(ms < 1500, `${name} took ${Math.round(ms)} ms`);
        assert.match(error.message, /throttle counters/, name);
      }
      server = await startRedisServer({ args: ["--port", String(server.port)] });
      const deadline = Date.now() + 10_000;
      while (
        !(await counters.ping().then(
          () => true,
          () => false,
        ))
      ) {
        assert.ok(Date.now() < deadline, "the counters did not reconnect");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(await counters.hit("after", 60_000), 1, "the restarted server counts");
    } finally {
      await counters.close();
      await server.stop();
    }
  });

  it("Redis unreachable from the start: a call fails within the bound, saying connection refused", async () => {
    const counters = createRedisCounters({ url: `redis://127.0.0.1:${await freePort()}` });
    try {
      const { error, ms } = await unavailable(() => counters.hit("k", 1000));
      assert.ok(ms < 1500, `took ${Math.round(ms)} ms`);
      assert.match(error.message, /connection refused|not connected/);
    } finally {
      await counters.close();
    }
  });

  it("Redis hangs (CLIENT PAUSE): a call fails after the 1 s command timeout, not later", async () => {
    const server = await startRedisServer();
    const counters = createRedisCounters({ url: server.url });
    const raw = new Redis(server.url);
    try {
      assert.equal(await counters.hit("k", 60_000), 1);
      await raw.call("CLIENT", "PAUSE", "2000", "ALL");
      const { error, ms } = await unavailable(() => counters.hit("k", 60_000));
      assert.ok(ms >= 900 && ms < 1500, `took ${Math.round(ms)} ms`);
      assert.match(error.message, /no reply within 1000 ms|timed out/);
    } finally {
      await counters.close();
      raw.disconnect();
      await server.stop();
    }
  });

  it("Redis out of memory: a hit fails as StoreUnavailableError saying so (the app's page names it)", async () => {
    const server = await startRedisServer();
    const counters = createRedisCounters({ url: server.url });
    const raw = new Redis(server.url);
    try {
      await raw.config("SET", "maxmemory-policy", "noeviction");
      await raw.config("SET", "maxmemory", "1");
      const { error } = await unavailable(() => counters.hit(uniqueKey("oom"), 60_000));
      assert.match(error.message, /Redis is out of memory/);
      await raw.config("SET", "maxmemory", "0");
      assert.equal(await counters.hit(uniqueKey("oom"), 60_000), 1);
    } finally {
      await counters.close();
      raw.disconnect();
      await server.stop();
    }
  });

  it("closed counters fail every call as StoreUnavailableError", async () => {
    const server = await startRedisServer();
    const counters = createRedisCounters({ url: server.url });
    try {
      await counters.close();
      await unavailable(() => counters.hit("k", 1000));
      await unavailable(() => counters.hits("k"));
    } finally {
      await server.stop();
    }
  });
});

describe("the app's counters", () => {
  it("on the config's Redis: a sign-up is counted there, under the throttle's prefix, with a TTL", async () => {
    const server = await startRedisServer();
    const raw = new Redis(server.url);
    const app = await buildApp({
      ...DEFAULT_CONFIG,
      store: { kind: "redis", url: server.url },
      logLevel: "silent",
    });
    try {
      const signup = await createTestClient(app).post("/signup", {
        username: uniqueName(),
        password: "correct horse battery",
      });
      assert.equal(signup.status, 303);
      const keys = await raw.keys(`${PREFIX}*`);
      assert.ok(
        keys.some((key) => key.startsWith(`${PREFIX}signups:client:`)),
        keys.join(", "),
      );
      for (const key of keys) assert.ok((await raw.pttl(key)) > 0, `${key} has a TTL`);
    } finally {
      await app.close();
      raw.disconnect();
      await server.stop();
    }
  });

  it("a given Redis store without counters: buildApp refuses, naming deps.counters", async () => {
    const server = await startRedisServer();
    const store = createRedisStore({ url: server.url });
    try {
      await assert.rejects(buildApp({ ...DEFAULT_CONFIG, logLevel: "silent" }, { store }), /deps\.counters/);
      const counters = createRedisCounters({ url: server.url });
      const app = await buildApp({ ...DEFAULT_CONFIG, logLevel: "silent" }, { store, counters });
      await app.close();
      assert.equal(await counters.hit("still-open", 1000), 1, "the app does not close counters it is given");
      await counters.close();
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it("counters down while the store answers: /healthz degraded naming them, logins 503, then recovery", async () => {
    const storeServer = await startRedisServer();
    let countersServer = await startRedisServer();
    const store = createRedisStore({ url: storeServer.url });
    const counters = createRedisCounters({ url: countersServer.url });
    // /healthz names problems only to a request with the details token (HEALTHZ_DETAILS_TOKEN).
    const healthDetailsToken = "counters-test-details-token";
    const details = { authorization: `Bearer ${healthDetailsToken}` };
    const app = await buildApp(
      { ...DEFAULT_CONFIG, logLevel: "silent", healthDetailsToken },
      { store, counters },
    );
    try {
      const browser = createTestClient(app);
      assert.equal((await browser.get("/healthz")).status, 200);
      await countersServer.stop();
      const health = await browser.get("/healthz", details);
      assert.equal(health.status, 200, "pages are still served");
      const body = JSON.parse(health.body);
      assert.equal(body.status, "degraded");
      assert.ok(
        body.store.problems.some((problem: string) => problem.startsWith("login throttle counters: ")),
        health.body,
      );
      const login = await browser.post("/login", {
        username: uniqueName(),
        password: "correct horse battery",
      });
      assert.equal(login.status, 503);
      assert.equal(login.headers["retry-after"], "5");
      countersServer = await startRedisServer({ args: ["--port", String(countersServer.port)] });
      const deadline = Date.now() + 10_000;
      while (JSON.parse((await browser.get("/healthz")).body).status !== "ok") {
        assert.ok(Date.now() < deadline, "the counters did not come back");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const signup = await browser.post("/signup", {
        username: uniqueName(),
        password: "correct horse battery",
      });
      assert.equal(signup.status, 303);
    } finally {
      await app.close();
      await counters.close();
      await store.close();
      await countersServer.stop();
      await storeServer.stop();
    }
  });
});
