import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createCluster } from "redis";
import { clientCommandsDuring } from "../../../test/harness/redis-monitor.js";
import {
  type RedisClusterHandle,
  redisCommandCalls,
  startRedisCluster,
} from "../../../test/harness/redis-servers.js";
import { type RespReply, respCommand } from "../../../test/harness/resp-client.js";
import { isStoreUnavailable } from "../../core/errors.js";
import { createSessionManager } from "../../core/session-manager.js";
import type { SessionStore } from "../../core/session-store.js";
import { storageIdOf } from "../../core/token.js";
import { createRedisStore } from "./index.js";
import { keyLayout } from "./keys.js";

describe("redis store on a node-redis cluster (3 masters)", () => {
  let cluster: RedisClusterHandle;
  let client: ReturnType<typeof createCluster>;
  let store: SessionStore;
  /** Which master port serves each hash slot, from CLUSTER SLOTS. */
  let slotOwners: { from: number; to: number; port: number }[] = [];

  const node = (port: number, ...command: string[]) => respCommand({ host: "127.0.0.1", port }, ...command);
  const ownerOf = async (key: string): Promise<number> => {
    const slot = (await node(cluster.ports[0] as number, "CLUSTER", "KEYSLOT", key)) as number;
    const owner = slotOwners.find((range) => slot >= range.from && slot <= range.to);
    assert.ok(owner, `no master serves slot ${slot}`);
    return owner.port;
  };
  const sum = (calls: Record<string, number>[], name: string) =>
    calls.reduce((n, c) => n + (c[name] ?? 0), 0);

  before(async () => {
    cluster = await startRedisCluster({ masters: 3 });
    const slots = (await node(cluster.ports[0] as number, "CLUSTER", "SLOTS")) as RespReply[][];
    slotOwners = slots.map(([from, to, master]) => ({
      from: from as number,
      to: to as number,
      port: (master as RespReply[])[1] as number,
    }));
    // One root node is enough: the client discovers the others. The caller listens to node errors.
    client = createCluster({
      rootNodes: [{ url: cluster.urls[0] as string }],
      defaults: { socket: { reconnectStrategy: 100 } },
    });
    client.on("error", () => undefined);
    await client.connect();
    store = createRedisStore({ client, commandTimeoutMs: 500 });
    await store.ping();
  });
  after(async () => {
    await store?.close();
    client?.destroy();
    await cluster?.stop();
  });

  it('is of kind "redis-cluster"', () => {
    assert.equal(store.kind, "redis-cluster");
  });

  it("health() reads and writes on every master, and persistence() asks each one", async () => {
    const health = await store.health?.();
    assert.equal(health?.status, "ok");
    assert.deepEqual(
      health?.nodes?.map((node) => node.address.split(":")[1]).sort(),
      cluster.ports.map(String).sort(),
    );
    assert.ok(health?.nodes?.every((node) => node.reads && node.writes && (node.slots ?? 0) > 0));
    const persistence = await store.persistence?.();
    assert.equal(persistence?.durable, false, "the harness starts servers without persistence");
    assert.equal(persistence?.nodes.length, cluster.ports.length);
  });

  it("a load is one EVALSHA on the master that holds the session, and nothing on the others", async () => {
    const sessions = createSessionManager({ store, fields: { visits: "integer" } });
    const { token } = await sessions.create("one-command");
    await sessions.load(token); // the script is known to that master from here on
    const port = await ownerOf(keyLayout("lk:").session(storageIdOf(token)));
    const before = await Promise.all(cluster.urls.map(redisCommandCalls));
    const sent = await clientCommandsDuring(`redis://127.0.0.1:${port}`, async () => {
      assert.ok(await sessions.load(token, { increment: { visits: 1 } }));
    });
    const after = await Promise.all(cluster.urls.map(redisCommandCalls));
    assert.deepEqual(sent, ["evalsha"]);
    assert.equal(sum(after, "evalsha") - sum(before, "evalsha"), 1, "one EVALSHA in the whole cluster");
    assert.equal(sum(after, "eval") - sum(before, "eval"), 0);
  });

  it("ping() pings every master", async () => {
    const before = await Promise.all(cluster.urls.map(redisCommandCalls));
    await store.ping();
    const after = await Promise.all(cluster.urls.map(redisCommandCalls));
    after.forEach((calls, i) => {
      assert.equal((calls.ping ?? 0) - (before[i]?.ping ?? 0), 1, `one PING on ${cluster.ports[i]}`);
    });
  });

  it("a master that stops answering costs a call at most commandTimeoutMs", async () => {
    const sessions = createSessionManager({ store });
    const { token } = await sessions.create("paused-master");
    const port = await ownerOf(keyLayout("lk:").session(storageIdOf(token)));
    await node(port, "CLIENT", "PAUSE", "1000", "ALL");
    const started = Date.now();
    await assert.rejects(sessions.load(token), isStoreUnavailable);
    const ms = Date.now() - started;
    assert.ok(ms >= 400 && ms < 1000, `the call took ${ms} ms`);
    await node(port, "CLIENT", "UNPAUSE");
    assert.ok(await sessions.load(token));
  });

  // Last: it shuts a master down for good (no replicas to fail over to).
  it("with a master gone, its sessions fail within the timeout, the others work, and ping says which", async () => {
    const sessions = createSessionManager({ store });
    const tokens: string[] = [];
    for (let i = 0; i < 30; i++) tokens.push((await sessions.create(`master-down-${i}`)).token);
    const victim = cluster.ports[2] as number;
    await node(victim, "SHUTDOWN", "NOSAVE").catch(() => undefined);
    const onVictim: string[] = [];
    const elsewhere: string[] = [];
    for (const token of tokens) {
      ((await ownerOf(keyLayout("lk:").session(storageIdOf(token)))) === victim ? onVictim : elsewhere).push(
        token,
      );
    }
    assert.ok(onVictim.length > 0 && elsewhere.length > 0);
    for (const token of onVictim.slice(0, 2)) {
      const started = Date.now();
      await assert.rejects(sessions.load(token), isStoreUnavailable);
      assert.ok(Date.now() - started < 1200, `took ${Date.now() - started} ms`);
    }
    for (const token of elsewhere.slice(0, 3)) assert.ok(await sessions.load(token));
    await assert.rejects(
      store.ping(),
      (error: Error) => isStoreUnavailable(error) && error.message.includes(String(victim)),
    );
  });
});
