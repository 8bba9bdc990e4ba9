/**
 * `health()`, `persistence()` and what the store's errors say, against real redis-server processes:
 * out of memory, a working connection that resets, a server with and without persistence.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { respCommand } from "../../../test/harness/resp-client.js";
import { suiteResources } from "../../../test/harness/suite-resources.js";
import { isStoreUnavailable } from "../../core/errors.js";
import { createSessionManager } from "../../core/session-manager.js";
import type { SessionStore } from "../../core/session-store.js";
import { createRedisStore } from "./index.js";
import { keySlot } from "./key-slot.js";

/**
 * A proxy to `port` that, once `resetAll()` is called, answers every byte a client sends with a TCP
 * reset (RST): a connection that worked, then resets, as when a server or a NAT drops it abruptly.
 */
async function startResettingProxy(
  port: number,
): Promise<{ url: string; resetAll(): void; stop(): Promise<void> }> {
  let resetting = false;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port });
    open.add(client).add(upstream);
    client.on("data", (chunk) => {
      if (resetting) client.resetAndDestroy();
      else upstream.write(chunk);
    });
    upstream.on("data", (chunk) => client.write(chunk));
    for (const socket of [client, upstream]) {
      socket.on("error", () => {});
      socket.on("close", () => {
        open.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return {
    url: `redis://127.0.0.1:${address.port}`,
    resetAll: () => {
      resetting = true;
    },
    stop: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("redis store health and messages", () => {
  const { defer, started } = suiteResources();
  const opened = (url: string): SessionStore => {
    const store = createRedisStore({ url, commandTimeoutMs: 500 });
    defer(() => store.close());
    return store;
  };

  it("keySlot agrees with Redis's CLUSTER KEYSLOT (the examples of the Cluster specification)", () => {
    assert.equal(keySlot("123456789"), 12739);
    assert.equal(keySlot("somekey"), 11058);
    assert.equal(keySlot("foo{hash_tag}"), keySlot("hash_tag"));
    assert.equal(keySlot("foo{}bar"), keySlot("foo{}bar"), "an empty tag hashes the whole key");
    assert.notEqual(keySlot("foo{}bar"), keySlot(""));
  });

  it("a healthy server: ok, reads and writes, with its address", async () => {
    const server = await started();
    const store = opened(server.url);
    const health = await store.health?.();
    assert.deepEqual(health, {
      status: "ok",
      kind: "redis",
      problems: [],
      nodes: [{ address: `127.0.0.1:${server.port}`, reads: true, writes: true }],
    });
  });

  it("out of memory (maxmemory 1, noeviction): degraded (views still work), writes fail, and errors say 'out of memory'", async () => {
    const server = await started();
    const store = opened(server.url);
    const sessions = createSessionManager({ store });
    const { token } = await sessions.create("before-oom");
    const raw = (...command: string[]) => respCommand({ host: "127.0.0.1", port: server.port }, ...command);
    await raw("CONFIG", "SET", "maxmemory-policy", "noeviction");
    await raw("CONFIG", "SET", "maxmemory", "1");
    try {
      const health = await store.health?.();
      assert.equal(health?.status, "degraded");
      assert.equal(health?.nodes?.[0]?.reads, true);
      assert.equal(health?.nodes?.[0]?.writes, false);
      assert.match(health?.problems[0] ?? "", /writes fail: Redis is out of memory \(maxmemory reached/);
      await assert.rejects(
        sessions.create("during-oom"),
        (error: Error) =>
          isStoreUnavailable(error) &&
          /^latchkey: redis create failed: Redis is out of memory.*OOM command not allowed/.test(
            error.message,
          ),
      );
      assert.ok(await sessions.load(token), "a read still works");
    } finally {
      await raw("CONFIG", "SET", "maxmemory", "0");
    }
    assert.equal((await store.health?.())?.status, "ok");
  });

  it("a working connection that resets says 'connection reset', without the TLS hint of a first connection", async () => {
    const server = await started();
    const proxy = await startResettingProxy(server.port);
    defer(() => proxy.stop());
    const store = opened(proxy.url);
    await store.ping();
    proxy.resetAll();
    const error = await store.ping().then(
      () => assert.fail("the ping passed a resetting proxy"),
      (failure: Error) => failure,
    );
    assert.ok(isStoreUnavailable(error));
    assert.match(error.message, /connection reset \(the server restarted\?\).*ECONNRESET/);
    assert.doesNotMatch(error.message, /rediss:/);
  });

  it("persistence: a server without RDB saves or AOF is not durable; one with AOF is", async () => {
    const bare = await started(); // the harness starts every server with --save "" --appendonly no
    assert.deepEqual(await opened(bare.url).persistence?.(), {
      durable: false,
      nodes: [{ address: `127.0.0.1:${bare.port}`, aof: false, rdb: false }],
    });

    const dir = await mkdtemp(join(tmpdir(), "latchkey-aof-"));
    defer(() => rm(dir, { recursive: true, force: true }));
    const aof = await started(["--appendonly", "yes", "--dir", dir]);
    const persistence = await opened(aof.url).persistence?.();
    assert.equal(persistence?.durable, true);
    assert.equal(persistence?.nodes[0]?.aof, true);
  });

  it("persistence: a server that refuses CONFIG and INFO (an ACL user) is 'unknown', with the reason", async () => {
    // The least-privilege user of the README: no @dangerous commands (no INFO, no CONFIG).
    const acl = ["latchkey", "on", ">app-pass", "~lk:*", "resetchannels", "-@all", "+@read", "+@write"];
    const server = await started(["--user", ...acl, "+@scripting", "+@connection", "-@dangerous"]);
    const store = opened(`redis://latchkey:app-pass@127.0.0.1:${server.port}`);
    assert.equal((await store.health?.())?.status, "ok", "the health probe needs only the store's ACL");
    const persistence = await store.persistence?.();
    assert.equal(persistence?.durable, undefined);
    assert.match(persistence?.nodes[0]?.problem ?? "", /INFO persistence: .*NOPERM/);
    assert.doesNotMatch(JSON.stringify(persistence), /app-pass/);
  });
});
