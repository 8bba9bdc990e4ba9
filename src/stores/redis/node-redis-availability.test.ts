import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "redis";
import { expectUnavailable as unavailable } from "../../../test/harness/expect-unavailable.js";
import { respCommand } from "../../../test/harness/resp-client.js";
import { suiteResources } from "../../../test/harness/suite-resources.js";
import { startTCPProxy } from "../../../test/harness/tcp-proxy.js";
import { isStoreUnavailable } from "../../core/errors.js";
import { createSessionManager } from "../../core/session-manager.js";
import type { SessionStore } from "../../core/session-store.js";
import { storageIdOf } from "../../core/token.js";
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

/** The pid of the redis-server on `port`, to stop it with SIGSTOP (it then reads nothing at all). */
async function serverPid(port: number): Promise<number> {
  const info = String(await respCommand({ host: "127.0.0.1", port }, "INFO", "server"));
  const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
  assert.ok(Number.isInteger(pid) && pid > 0, "INFO server names the process");
  return pid;
}

describe("redis store on a node-redis client when Redis is unavailable", () => {
  const { defer, started } = suiteResources();
  /** A client connected as a caller would: with an error listener (node-redis throws without one). */
  const connected = async (url: string) => {
    const client = createClient({ url, socket: { reconnectStrategy: 50 } });
    client.on("error", () => undefined);
    await client.connect();
    defer(async () => {
      // node-redis 5 throws when destroying a client twice (a test may have destroyed it).
      if (client.isOpen) client.destroy();
    });
    return client;
  };
  const opened = (options: Parameters<typeof createRedisStore>[0]): RedisStore => {
    const store = createRedisStore(options);
    defer(() => store.close());
    return store;
  };

  it("fails within 1.5 s when the server stops, fails fast after that, and recovers on restart", async () => {
    const server = await started();
    const errors: Error[] = [];
    const client = await connected(server.url);
    const store = opened({ client, onError: (error) => errors.push(error) });
    const sessions = createSessionManager({ store });
    const { token } = await sessions.create("outage");
    assert.ok(await sessions.load(token));

    await server.stop();
    const first = await unavailable(() => sessions.load(token));
    assert.ok(first.ms < 1500, `the first failing call took ${first.ms} ms`);
    assert.match(first.error.message, /^latchkey: redis load failed: /);
    const next = await unavailable(() => sessions.create("outage"));
    assert.ok(next.ms < 100, `a call while disconnected took ${next.ms} ms instead of failing fast`);
    assert.match(next.error.message, /not ready/);
    await unavailable(() => store.ping());
    await unavailable(() => store.records.insert("outage", { a: "1" }));
    await sleep(300);
    assert.ok(errors.length > 0, "onError heard about the reconnect attempts");

    // A new, empty server on the same port (its script cache too): the client reconnects by itself and
    // the store sends its scripts again after NOSCRIPT.
    await started(["--port", String(server.port)]);
    await waitForPing(store, 5000);
    const again = await sessions.create("outage");
    assert.ok(await sessions.load(again.token));
  });

  it("bounds a call by commandTimeoutMs when the server stops answering (SIGSTOP)", async () => {
    const server = await started();
    const client = await connected(server.url);
    const store = opened({ client, commandTimeoutMs: 300 });
    await store.ping();
    const pid = await serverPid(server.port);
    process.kill(pid, "SIGSTOP");
    try {
      const { error, ms } = await unavailable(() => store.records.get("stopped"));
      assert.ok(ms >= 250 && ms < 800, `the call took ${ms} ms`);
      assert.match(error.message, /no reply within 300 ms/);
      const load = await unavailable(() =>
        store.load("x", { now: Date.now(), idleTimeoutMs: 1000, touchIntervalMs: 0 }),
      );
      assert.ok(load.ms < 800, `a load took ${load.ms} ms`);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await waitForPing(store, 2000);
  });

  it("an increment that timed out in the client's queue is never applied later", async () => {
    const server = await started();
    const client = await connected(server.url);
    const store = opened({ client, commandTimeoutMs: 300 });
    const sessions = createSessionManager({ store, fields: { visits: "integer" } });
    const { token } = await sessions.create("queued");
    assert.equal(await sessions.increment(token, "visits"), 1);
    const key = keyLayout("lk:").session(storageIdOf(token));

    const pid = await serverPid(server.port);
    process.kill(pid, "SIGSTOP");
    let filler: Promise<unknown> | undefined;
    try {
      // A stopped server reads nothing, so once the kernel's buffers are full the socket needs a
      // drain, and node-redis keeps the commands queued behind this one unwritten: the increment
      // waits in the client's queue until its timeout takes it out.
      filler = client.sendCommand(["SET", "filler", "x".repeat(64 * 1024 * 1024)]);
      const { error, ms } = await unavailable(() => sessions.increment(token, "visits"));
      // Bounded by its 300 ms deadline, not by the stopped server (it would wait for SIGCONT): the
      // margin is for node-redis encoding the 64 MB filler on this event loop, slow on a busy machine.
      assert.ok(ms < 5_000, `the increment took ${ms} ms`);
      assert.match(error.message, /no reply within 300 ms/);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    assert.equal(await filler, "OK", "the queue drained once the server answered again");
    await sleep(100);
    assert.equal(await respCommand({ host: "127.0.0.1", port: server.port }, "HGET", key, "visits"), "1");
    assert.equal((await sessions.load(token))?.data.visits, 1, "replies still pair with their commands");
    assert.equal(await sessions.increment(token, "visits"), 2);
  });

  it("an increment in flight when the connection drops fails, and is not replayed after the reconnect", async () => {
    const server = await started();
    const proxy = await startTCPProxy(server.port);
    defer(() => proxy.stop());
    const client = await connected(proxy.url);
    const store = opened({ client, commandTimeoutMs: 2000 });
    const sessions = createSessionManager({ store, fields: { visits: "integer" } });
    const { token } = await sessions.create("in-flight");
    assert.equal(await sessions.increment(token, "visits"), 1);

    proxy.hold(); // the increment is written, but never reaches Redis
    const pending = unavailable(() => sessions.increment(token, "visits"));
    await sleep(100);
    proxy.cut();
    proxy.release();
    const { ms } = await pending;
    assert.ok(ms < 1000, `the increment failed after ${ms} ms: with the connection, not by timeout`);

    await waitForPing(store, 3000);
    assert.ok(proxy.connections() >= 2, "the client reconnected");
    await sleep(100);
    const key = keyLayout("lk:").session(storageIdOf(token));
    assert.equal(await respCommand({ host: "127.0.0.1", port: server.port }, "HGET", key, "visits"), "1");
    assert.equal(await sessions.increment(token, "visits"), 2);
  });

  it("a client that is not connected (or closed by its owner) fails at once", async () => {
    const server = await started();
    const neverConnected = createClient({ url: server.url });
    const idle = opened({ client: neverConnected });
    const { error, ms } = await unavailable(() => idle.ping());
    assert.ok(ms < 100, `took ${ms} ms`);
    assert.match(error.message, /node-redis client is closed/);

    const client = await connected(server.url);
    const store = opened({ client });
    await store.ping();
    client.destroy();
    const closed = await unavailable(() => store.records.get("x"));
    assert.ok(closed.ms < 100, `took ${closed.ms} ms`);
  });
});
