import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Cluster } from "ioredis";
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
import { storageIdOf, tagOf } from "../../core/token.js";
import { createRedisStore } from "./index.js";
import { keyLayout } from "./keys.js";

describe("redis store on a 3-master Redis Cluster", () => {
  let cluster: RedisClusterHandle;
  let store: SessionStore;
  /** Which master port serves each hash slot, from CLUSTER SLOTS. */
  let slotOwners: { from: number; to: number; port: number }[] = [];

  const node = (port: number, ...command: string[]) => respCommand({ host: "127.0.0.1", port }, ...command);
  /** The port of the master that holds `key`, by CLUSTER KEYSLOT. */
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
    // One seed node is enough: the client discovers the others.
    store = createRedisStore({ clusterNodes: [cluster.urls[0] as string], commandTimeoutMs: 500 });
    await store.ping();
  });
  after(async () => {
    await store?.close();
    await cluster?.stop();
  });

  it('is of kind "redis-cluster"', () => {
    assert.equal(store.kind, "redis-cluster");
  });

  it("keeps each user's sessions and index in one slot, spreads users over every master, and destroyForUser removes all", async () => {
    const sessions = createSessionManager({ store });
    const usersByPort = new Map<number, string>();
    // Users land on masters by their slot tag: create users until every master holds one.
    for (let i = 0; usersByPort.size < cluster.ports.length && i < 200; i++) {
      const userId = `spread-user-${i}`;
      const port = await ownerOf(keyLayout("lk:").userIndex(userId));
      if (!usersByPort.has(port)) usersByPort.set(port, userId);
    }
    assert.deepEqual([...usersByPort.keys()].sort(), [...cluster.ports].sort(), "every master holds a user");

    for (const [port, userId] of usersByPort) {
      const tokens: string[] = [];
      for (let i = 0; i < 8; i++) tokens.push((await sessions.create(userId)).token);
      for (const token of tokens) {
        const key = keyLayout("lk:").session(storageIdOf(token));
        assert.equal(await ownerOf(key), port, "a session lives with its user's index");
        assert.equal(await node(port, "EXISTS", key), 1);
      }
      assert.equal((await sessions.listForUser(userId)).length, tokens.length);
      const [kept, ...others] = tokens as [string, ...string[]];
      assert.equal(await sessions.destroyForUser(userId, { exceptToken: kept }), others.length);
      for (const token of tokens) {
        const key = keyLayout("lk:").session(storageIdOf(token));
        assert.equal(await node(port, "EXISTS", key), token === kept ? 1 : 0, `${key} on ${port}`);
      }
      assert.equal(await sessions.destroyForUser(userId), 1);
      for (const token of tokens) assert.equal(await sessions.load(token), null);
      const index = keyLayout("lk:").userIndex(userId);
      assert.equal(await node(port, "EXISTS", index), 0, "the index is gone with its last entry");
    }
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

  it("keys a script derives (the index from a session's user, sessions from the index) are in the declared key's slot, and are read there", async () => {
    // lua.ts, "Keys a script derives": the load, rotate, destroy and take scripts build the user's
    // index key from the session's `$u`; the list and revoke scripts build session keys from the
    // index. Redis Cluster runs a script only on the node of its declared keys and refuses a key of
    // another slot: that every derived key shares the declared key's slot is what makes them safe.
    const layout = keyLayout("lk:");
    const sessions = createSessionManager({ store });
    for (let i = 0; i < 20; i++) {
      const userId = `derived-${i}-${"x".repeat(i)}`;
      const { token } = await sessions.create(userId);
      const id = storageIdOf(token);
      const declared = (await node(
        cluster.ports[0] as number,
        "CLUSTER",
        "KEYSLOT",
        layout.session(id),
      )) as number;
      const fromUser = layout.userIndexPrefix(tagOf(id)) + userId; // as the scripts build it from `$u`
      const fromIndex = layout.sessionPrefix(tagOf(id)) + id.slice(2); // as built from an index entry
      assert.equal(fromUser, layout.userIndex(userId));
      for (const derived of [fromUser, fromIndex, layout.revocation(userId)]) {
        assert.equal(
          await node(cluster.ports[0] as number, "CLUSTER", "KEYSLOT", derived),
          declared,
          derived,
        );
      }
    }
    // And the scripts do read the derived index on a Cluster: a session whose index entry is gone ends
    // at its next load (it would live on if the ZSCORE were skipped or refused).
    const { token } = await sessions.create("derived-orphan");
    const index = layout.userIndex("derived-orphan");
    assert.equal(await node(await ownerOf(index), "ZREM", index, storageIdOf(token)), 1);
    assert.equal(await sessions.load(token), null);
    assert.equal(await node(await ownerOf(index), "EXISTS", layout.session(storageIdOf(token))), 0);
  });

  it("rotates within the user's slot, in one script with the index", async () => {
    const sessions = createSessionManager({ store, fields: { name: "string" } });
    const { token } = await sessions.create("rotate-slots", { data: { name: "r" } });
    const rotated = await sessions.rotate(token);
    assert.ok(rotated);
    const oldKey = keyLayout("lk:").session(storageIdOf(token));
    const newKey = keyLayout("lk:").session(storageIdOf(rotated.token));
    const port = await ownerOf(oldKey);
    assert.equal(await ownerOf(newKey), port, "the old and new keys share the user's slot");
    assert.equal(await node(port, "EXISTS", oldKey), 0);
    assert.equal(await node(port, "EXISTS", newKey), 1);
    assert.deepEqual(await node(port, "ZRANGE", keyLayout("lk:").userIndex("rotate-slots"), "0", "-1"), [
      storageIdOf(rotated.token),
    ]);
    assert.equal((await sessions.load(rotated.token))?.data.name, "r");
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

  it("works on a caller's own Cluster client and leaves it open", async () => {
    const client = new Cluster(cluster.ports.map((port) => ({ host: "127.0.0.1", port })));
    const borrowed = createRedisStore({ client });
    assert.equal(borrowed.kind, "redis-cluster");
    await borrowed.ping();
    const sessions = createSessionManager({ store: borrowed });
    const { token } = await sessions.create("borrowed");
    assert.ok(await sessions.load(token));
    await borrowed.close();
    assert.equal(await client.ping(), "PONG");
    await client.quit();
  });
  // Last: it shuts a master down for good (no replicas to fail over to).
  it("with a master gone, its sessions fail within the timeout, the others work, and ping says which", async () => {
    const sessions = createSessionManager({ store });
    const tokens: string[] = [];
    // Thirty users, so that their slots spread over every master.
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
    // Once its reconnect attempts are refused, the master is known down: calls to its slots fail at
    // once, unsent, saying so, instead of each waiting out commandTimeoutMs (500 ms here). A login
    // that touches keys on every master no longer waits for each dead one.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    for (const token of onVictim.slice(0, 10)) {
      await assert.rejects(sessions.load(token), (error: Error) => {
        assert.ok(isStoreUnavailable(error));
        assert.match(error.message, new RegExp(`master 127\\.0\\.0\\.1:${victim} of slot \\d+ is down`));
        return true;
      });
    }
    const elapsed = Date.now() - started;
    assert.ok(
      elapsed < 500,
      `${Math.min(10, onVictim.length)} calls to a known-down master took ${elapsed} ms`,
    );
    await assert.rejects(
      store.ping(),
      (error: Error) => isStoreUnavailable(error) && error.message.includes(String(victim)),
    );
  });
});
