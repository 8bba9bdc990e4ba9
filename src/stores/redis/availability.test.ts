import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { expectUnavailable as unavailable } from "../../../test/harness/expect-unavailable.js";
import { respCommand } from "../../../test/harness/resp-client.js";
import { suiteResources } from "../../../test/harness/suite-resources.js";
import { startTCPProxy } from "../../../test/harness/tcp-proxy.js";
import { isStoreUnavailable } from "../../core/errors.js";
import { createSessionManager } from "../../core/session-manager.js";
import type { SessionStore } from "../../core/session-store.js";
import { userTagOf } from "../../core/token.js";
import { createRedisStore, type RedisStore } from "./index.js";
import { keyLayout } from "./keys.js";

/** Pings until the store answers, for at most `ms`. */
async function waitForPing(store: SessionStore, ms: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      await store.ping();
      return Date.now() - started;
    } catch (error) {
      assert.ok(isStoreUnavailable(error), `ping threw ${String(error)}`);
      if (Date.now() - started > ms) throw error;
      await sleep(50);
    }
  }
}

describe("redis store when Redis is unavailable", () => {
  const { defer, started } = suiteResources();
  const opened = (options: Parameters<typeof createRedisStore>[0]): RedisStore => {
    const store = createRedisStore(options);
    defer(() => store.close());
    return store;
  };

  it("a login or rotation whose connection is cut mid-flight leaves its session whole or absent, never outside its index", async () => {
    const server = await started();
    const proxy = await startTCPProxy(server.port);
    defer(() => proxy.stop());
    const store = opened({ url: proxy.url });
    const sessions = createSessionManager({ store });
    const raw = (...command: string[]) => respCommand({ host: "127.0.0.1", port: server.port }, ...command);
    const keys = keyLayout("lk:");
    let cut = 0;
    for (let trial = 0; trial < 60; trial++) {
      const userId = `cut-${trial}`;
      const { token } = await sessions.create(userId);
      // Cut every connection 0-2 ms into a create and a rotation: before, during or after the script.
      const calls = Promise.allSettled([sessions.create(userId), sessions.rotate(token)]);
      await sleep(trial % 3);
      proxy.cut();
      const outcomes = await calls;
      cut += outcomes.filter((outcome) => outcome.status === "rejected").length;
      // Every session hash of this user is in the index, and every index entry has its hash.
      const indexed = new Set((await raw("ZRANGE", keys.userIndex(userId), "0", "-1")) as string[]);
      const [, found] = (await raw(
        "SCAN",
        "0",
        "MATCH",
        `${keys.sessionPrefix(userTagOf(userId))}*`,
        "COUNT",
        "100000",
      )) as [string, string[]];
      const hashes = [];
      for (const key of found) if ((await raw("HGET", key, "$u")) === userId) hashes.push(key);
      assert.equal(hashes.length, indexed.size, `trial ${trial}: as many sessions as index entries`);
      for (const id of indexed)
        assert.equal(await raw("EXISTS", keys.session(id)), 1, `trial ${trial}: ${id}`);
      await waitForPing(store, 5000); // the client reconnects through the proxy
      assert.equal(
        await sessions.destroyForUser(userId),
        indexed.size,
        `trial ${trial}: revocation ends all`,
      );
    }
    assert.ok(cut > 0, "some calls were cut off (else the test tried nothing)");
  });

  it("fails within 1.5 s when the server stops, fails fast after that, and recovers on restart", async () => {
    const server = await started();
    const errors: Error[] = [];
    const store = opened({ url: server.url, onError: (error) => errors.push(error) });
    const sessions = createSessionManager({ store });
    const { token } = await sessions.create("outage");
    assert.ok(await sessions.load(token));

    // No unhandled ioredis 'error' output while the server is gone.
    const printed: unknown[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => printed.push(args);
    try {
      await server.stop();
      const first = await unavailable(() => sessions.load(token));
      assert.ok(first.ms < 1500, `the first failing call took ${first.ms} ms`);
      assert.match(first.error.message, /^latchkey: redis load failed: /);
      assert.ok(first.error.cause, "the ioredis error is attached as cause");
      const next = await unavailable(() => sessions.create("outage"));
      assert.ok(next.ms < 100, `a call while disconnected took ${next.ms} ms instead of failing fast`);
      await unavailable(() => store.ping());
      await unavailable(() => store.records.insert("outage", { a: "1" }));
      await sleep(300);
      assert.ok(errors.length > 0, "onError heard about the reconnect attempts");
    } finally {
      console.error = consoleError;
    }
    assert.deepEqual(printed, []);

    // A new server on the same port (empty: no persistence): the store reconnects by itself.
    await started(["--port", String(server.port)]);
    const ms = await waitForPing(store, 5000);
    assert.ok(ms < 5000);
    const again = await sessions.create("outage");
    assert.ok(await sessions.load(again.token));
  });

  it("bounds a call by commandTimeoutMs when the server stops answering", async () => {
    const server = await started();
    const store = opened({ url: server.url, commandTimeoutMs: 300 });
    await store.ping();
    // Every client's commands wait while the server is paused; the connection itself stays up.
    await respCommand({ host: "127.0.0.1", port: server.port }, "CLIENT", "PAUSE", "1000", "ALL");
    const { error, ms } = await unavailable(() => store.records.get("paused"));
    assert.ok(ms >= 250 && ms < 800, `the call took ${ms} ms`);
    assert.match(error.message, /no reply within 300 ms/);
    await respCommand({ host: "127.0.0.1", port: server.port }, "CLIENT", "UNPAUSE");
    await waitForPing(store, 2000);
  });

  it("a store created while Redis is down fails fast, then connects when it comes up", async () => {
    const probe = await started();
    const port = probe.port;
    await probe.stop(); // a port where nothing listens
    const store = opened({ url: `redis://127.0.0.1:${port}` });
    const { ms } = await unavailable(() => store.ping());
    assert.ok(ms < 1500, `ping took ${ms} ms`);
    await started(["--port", String(port)]);
    await waitForPing(store, 5000);
  });

  it("close() does not hang while Redis is down", async () => {
    const probe = await started();
    await probe.stop();
    const store = createRedisStore({ url: probe.url });
    await unavailable(() => store.ping());
    const begun = Date.now();
    await store.close();
    assert.ok(Date.now() - begun < 1100, `close took ${Date.now() - begun} ms`);
  });

  it("authenticates with the password of the URL, and says so when it is wrong", async () => {
    const server = await started(["--requirepass", "s3cret:pass"]);
    const good = opened({ url: `redis://:s3cret%3Apass@127.0.0.1:${server.port}` });
    const sessions = createSessionManager({ store: good });
    const { token } = await sessions.create("auth-user");
    assert.ok(await sessions.load(token));

    const wrong = opened({ url: `redis://:nope@127.0.0.1:${server.port}` });
    const { error, ms } = await unavailable(() => wrong.ping());
    assert.ok(ms < 1500, `took ${ms} ms`);
    assert.match(error.message, /WRONGPASS|invalid password/i);
    assert.ok(!error.message.includes("nope"), "the message does not repeat the password");

    const none = opened({ url: server.url });
    const noAuth = await unavailable(() => none.ping());
    assert.match(noAuth.error.message, /NOAUTH/);
  });

  it("works as a least-privilege ACL user given in the URL", async () => {
    // Only keys under the prefix; no @dangerous commands (no INFO, KEYS, FLUSHALL, CONFIG, ...).
    const acl = ["latchkey", "on", ">app-pass", "~lk:*", "resetchannels", "-@all", "+@read", "+@write"];
    const server = await started(["--user", ...acl, "+@scripting", "+@connection", "-@dangerous"]);
    const store = opened({ url: `redis://latchkey:app-pass@127.0.0.1:${server.port}` });
    const sessions = createSessionManager({ store, fields: { visits: "integer" } });
    const { token } = await sessions.create("acl-user");
    assert.equal((await sessions.load(token, { increment: { visits: 1 } }))?.data.visits, 1);
    assert.ok(await sessions.rotate(token));
    assert.equal((await sessions.listForUser("acl-user")).length, 1);
    assert.equal(await sessions.destroyForUser("acl-user"), 1);
    assert.equal(await store.records.insert("acl", { a: "1" }), true);

    const wrongUser = opened({ url: `redis://someone:app-pass@127.0.0.1:${server.port}` });
    const { error } = await unavailable(() => wrongUser.ping());
    assert.match(error.message, /WRONGPASS/);

    // Outside its key pattern the ACL refuses, and the refusal is reported as unavailability.
    const outside = opened({
      url: `redis://latchkey:app-pass@127.0.0.1:${server.port}`,
      keyPrefix: "other:",
    });
    const refused = await unavailable(() => outside.records.get("x"));
    assert.match(refused.error.message, /NOPERM/);
  });
});
