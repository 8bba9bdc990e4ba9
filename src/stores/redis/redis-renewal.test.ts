import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient, createCluster } from "redis";
import {
  type RedisClusterHandle,
  type RedisServerHandle,
  startRedisCluster,
  startRedisServer,
} from "../../../test/harness/redis-servers.js";
import { type RespReply, respCommand } from "../../../test/harness/resp-client.js";
import {
  type CreatePolicy,
  type ForwardedSession,
  isForwarded,
  type SessionStore,
  type StoredSession,
} from "../../core/session-store.js";
import { generateToken, storageIdOf, tagOf, userTagOf } from "../../core/token.js";
import { createRedisStore } from "./index.js";
import { type KeyLayout, keyLayout } from "./keys.js";

// Token renewal in the Redis store, driven at the store (session-store.ts: RotationForward,
// ForwardedSession): a rotation with a forward turns the old key into a forward to the new one for the
// grace period; load and rotate report it, update, destroy and take follow it one hop.

const HOUR = 3_600_000;
const BUDGET = 4096;

/** Raw commands to the server that holds `key` (on a Cluster, its slot's master). */
type Raw = (key: string, ...command: string[]) => Promise<RespReply>;

function policyAt(now: number): CreatePolicy {
  return { now, idleTimeoutMs: HOUR, touchIntervalMs: 60_000, maxSessionsPerUser: 10 };
}

/** A storage id of the slot tag `tag`, as the manager makes them. */
function newId(tag: string): string {
  return storageIdOf(generateToken(tag));
}

function sessionOf(storageId: string, userId: string, now: number, fields: Record<string, string> = {}) {
  return {
    storageId,
    userId,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: now + 24 * HOUR,
    userAgent: "agent",
    ip: "192.0.2.1",
    fields,
  } satisfies StoredSession;
}

/** The hash at `key` as an object (HGETALL), `{}` when there is none. */
async function hashAt(raw: Raw, key: string): Promise<Record<string, string>> {
  const flat = (await raw(key, "HGETALL", key)) as string[];
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i] as string] = flat[i + 1] as string;
  return hash;
}

/** Creates a session of `userId` and renews it (rotate with a forward); the old and the new id. */
async function renewed(
  store: SessionStore,
  userId: string,
  graceMs = 5_000,
  fields: Record<string, string> = { name: "ada" },
): Promise<{ oldId: string; successor: string; sealedToken: string; renewedAt: number }> {
  const tag = userId === "" ? tagOf(generateToken()) : userTagOf(userId);
  const oldId = newId(tag);
  const successor = newId(tag);
  const now = Date.now();
  await store.create(sessionOf(oldId, userId, now, fields), policyAt(now));
  const sealedToken = `sealed:${successor}`;
  const renewedAt = now + 1;
  const rotated = await store.rotate(oldId, successor, policyAt(renewedAt), undefined, {
    sealedToken,
    graceMs,
  });
  assert.ok(rotated && !isForwarded(rotated), "the rotation returns the new session");
  assert.equal(rotated.storageId, successor);
  return { oldId, successor, sealedToken, renewedAt };
}

/**
 * The renewal's round trip on any client: rotate with a forward, load at the forward (no side effect),
 * a second rotation answered by the forward, update and destroy through it.
 */
async function renewAndFollow(store: SessionStore, raw: Raw, layout: KeyLayout, userId: string) {
  const { oldId, successor, sealedToken, renewedAt } = await renewed(store, userId);
  const forward: ForwardedSession = { forwardedTo: successor, sealedToken };
  const oldKey = layout.session(oldId);
  assert.deepEqual(await hashAt(raw, oldKey), { $s: successor, $x: sealedToken });

  const now = Date.now();
  assert.deepEqual(await store.load(oldId, policyAt(now), { visits: 1 }), forward);
  assert.deepEqual(await store.rotate(oldId, newId(tagOf(oldId)), policyAt(now)), forward);

  assert.deepEqual(await store.update(oldId, { set: { name: "grace" }, maxBytes: BUDGET }, now), {});
  const loaded = await store.load(successor, policyAt(now));
  assert.ok(loaded && typeof loaded === "object" && !isForwarded(loaded));
  assert.deepEqual(loaded.fields, { name: "grace" }, "no increment from the load at the forward");
  assert.equal(loaded.tokenIssuedAt, renewedAt);

  assert.equal(await store.destroy(oldId, now), true);
  assert.equal(await raw(oldKey, "EXISTS", oldKey), 0);
  assert.equal(await raw(layout.session(successor), "EXISTS", layout.session(successor)), 0);
  assert.equal(await store.load(successor, policyAt(now)), null);
}

describe("redis store: token renewal (rotate with a forward) on one server", () => {
  let server: RedisServerHandle;
  let store: SessionStore;
  const layout = keyLayout("lk:");
  const raw: Raw = (_key, ...command) => respCommand({ host: "127.0.0.1", port: server.port }, ...command);

  before(async () => {
    server = await startRedisServer();
    store = createRedisStore({ url: server.url });
    await store.ping();
  });
  after(async () => {
    await store?.close();
    await server?.stop();
  });

  it("leaves the old id a forward to the successor, for graceMs, and stamps tokenIssuedAt", async () => {
    const { oldId, successor, sealedToken, renewedAt } = await renewed(store, "renew-ada", 5_000);
    const oldKey = layout.session(oldId);
    // Only the successor's id and its sealed token: no `$e`, nothing of the session.
    assert.deepEqual(await hashAt(raw, oldKey), { $s: successor, $x: sealedToken });
    const pttl = (await raw(oldKey, "PTTL", oldKey)) as number;
    assert.ok(pttl > 4_000 && pttl <= 5_000, `the forward's TTL is ${pttl} ms`);
    // A forward is in no index: the successor took the old id's entry.
    const index = layout.userIndex("renew-ada");
    assert.equal(await raw(index, "ZSCORE", index, oldId), null);
    assert.notEqual(await raw(index, "ZSCORE", index, successor), null);
    assert.equal((await hashAt(raw, layout.session(successor))).$k, String(renewedAt));
    const listed = await store.listForUser("renew-ada", Date.now());
    assert.deepEqual(
      listed.map((session) => [session.storageId, session.tokenIssuedAt]),
      [[successor, renewedAt]],
    );
  });

  it("sets tokenIssuedAt on every rotation, with or without a forward, and keeps it through create", async () => {
    const tag = userTagOf("renew-issued");
    const [first, second, third] = [newId(tag), newId(tag), newId(tag)];
    const now = Date.now();
    await store.create({ ...sessionOf(first, "renew-issued", now), tokenIssuedAt: now - 5 }, policyAt(now));
    const loaded = await store.load(first, policyAt(now));
    assert.ok(loaded && typeof loaded === "object" && !isForwarded(loaded));
    assert.equal(loaded.tokenIssuedAt, now - 5);
    const plain = await store.rotate(first, second, policyAt(now + 10));
    assert.ok(plain && !isForwarded(plain));
    assert.equal(plain.tokenIssuedAt, now + 10);
    assert.equal(await raw(layout.session(first), "EXISTS", layout.session(first)), 0, "no forward");
    const forwarded = await store.rotate(second, third, policyAt(now + 20), undefined, {
      sealedToken: "s",
      graceMs: 1_000,
    });
    assert.ok(forwarded && !isForwarded(forwarded));
    assert.equal(forwarded.tokenIssuedAt, now + 20);
    assert.equal((await hashAt(raw, layout.session(third))).$k, String(now + 20));
  });

  it("load at a forward returns it and changes nothing: no increment, no touch, no flash taken", async () => {
    const { oldId, successor, sealedToken } = await renewed(store, "renew-load", 5_000, { visits: "1" });
    const now = Date.now();
    await store.update(successor, { flash: { notice: "saved" }, maxBytes: BUDGET }, now);
    const oldKey = layout.session(oldId);
    const before = await hashAt(raw, oldKey);
    const successorBefore = await hashAt(raw, layout.session(successor));
    const policy = { ...policyAt(now + 120_000), touchIntervalMs: 0, takeFlash: true };
    assert.deepEqual(await store.load(oldId, policy, { visits: 5 }), { forwardedTo: successor, sealedToken });
    assert.deepEqual(await hashAt(raw, oldKey), before);
    assert.ok(((await raw(oldKey, "PTTL", oldKey)) as number) <= 5_000, "the forward is not touched");
    assert.deepEqual(await hashAt(raw, layout.session(successor)), successorBefore);
    const loaded = await store.load(successor, { ...policy, now });
    assert.ok(loaded && typeof loaded === "object" && !isForwarded(loaded));
    assert.deepEqual(loaded.fields, { visits: "1" });
    assert.deepEqual(loaded.flash, { notice: "saved" });
  });

  it("a second rotation of the old id returns the same forward and writes nothing", async () => {
    const { oldId, successor, sealedToken } = await renewed(store, "renew-twice", 5_000);
    const oldKey = layout.session(oldId);
    const late = newId(tagOf(oldId));
    const successorBefore = await hashAt(raw, layout.session(successor));
    const pttlBefore = (await raw(oldKey, "PTTL", oldKey)) as number;
    const again = await store.rotate(oldId, late, policyAt(Date.now()), undefined, {
      sealedToken: "another",
      graceMs: 60_000,
    });
    assert.deepEqual(again, { forwardedTo: successor, sealedToken });
    // Also with a rewrite whose expectations a forward cannot meet: the forward is what is reported.
    const rewritten = await store.rotate(oldId, late, policyAt(Date.now()), {
      expect: { name: "ada" },
      set: { name: "bob" },
    });
    assert.deepEqual(rewritten, { forwardedTo: successor, sealedToken });
    assert.equal(await raw(layout.session(late), "EXISTS", layout.session(late)), 0);
    assert.deepEqual(await hashAt(raw, oldKey), { $s: successor, $x: sealedToken });
    assert.ok(((await raw(oldKey, "PTTL", oldKey)) as number) <= pttlBefore, "the grace is not extended");
    assert.deepEqual(await hashAt(raw, layout.session(successor)), successorBefore);
    const index = layout.userIndex("renew-twice");
    assert.deepEqual(await raw(index, "ZRANGE", index, "0", "-1"), [successor]);
  });

  it("a rotation with a rewrite and a forward checks and rewrites the fields", async () => {
    const tag = userTagOf("renew-rewrite");
    const [oldId, successor, other] = [newId(tag), newId(tag), newId(tag)];
    const now = Date.now();
    await store.create(sessionOf(oldId, "renew-rewrite", now, { secret: "old", kept: "k" }), policyAt(now));
    const forward = { sealedToken: "sealed", graceMs: 5_000 };
    const stale = { expect: { secret: "older" }, set: { secret: "new" } };
    assert.equal(await store.rotate(oldId, other, policyAt(now), stale, forward), null);
    assert.equal((await hashAt(raw, layout.session(oldId))).secret, "old", "nothing written");
    const rotated = await store.rotate(
      oldId,
      successor,
      policyAt(now),
      { expect: { secret: "old", added: "" }, set: { secret: "new", added: "a" } },
      forward,
    );
    assert.ok(rotated && !isForwarded(rotated));
    assert.deepEqual(rotated.fields, { secret: "new", kept: "k", added: "a" });
    assert.deepEqual(await hashAt(raw, layout.session(oldId)), { $s: successor, $x: "sealed" });
  });

  it("update through a forward changes the successor and keeps the forward", async () => {
    const { oldId, successor, sealedToken } = await renewed(store, "renew-update", 5_000, { visits: "1" });
    const now = Date.now();
    const changes = { set: { name: "grace" }, increment: { visits: 2 }, maxBytes: BUDGET };
    assert.deepEqual(await store.update(oldId, changes, now), { visits: 3 });
    const after = await hashAt(raw, layout.session(successor));
    assert.equal(after.name, "grace");
    assert.equal(after.visits, "3");
    assert.deepEqual(await hashAt(raw, layout.session(oldId)), { $s: successor, $x: sealedToken });
  });

  it("take through a forward takes the successor, with its index entry, and deletes the forward", async () => {
    const { oldId, successor } = await renewed(store, "renew-take", 5_000, { cart: "3" });
    await store.update(successor, { flash: { notice: "hi" }, maxBytes: BUDGET }, Date.now());
    const taken = await store.take(oldId, Date.now());
    assert.ok(taken);
    assert.equal(taken.storageId, successor, "the session as it was stored: under its own id");
    assert.equal(taken.userId, "renew-take");
    assert.deepEqual(taken.fields, { cart: "3" });
    assert.deepEqual(taken.flash, { notice: "hi" });
    for (const id of [oldId, successor]) {
      assert.equal(await raw(layout.session(id), "EXISTS", layout.session(id)), 0);
    }
    assert.equal(await raw(layout.userIndex("renew-take"), "EXISTS", layout.userIndex("renew-take")), 0);
    assert.equal(await store.take(oldId, Date.now()), null);
  });

  it("destroy through a forward ends the successor, its index entry and the forward", async () => {
    const { oldId, successor } = await renewed(store, "renew-destroy", 5_000);
    const other = await renewed(store, "renew-destroy", 5_000);
    assert.equal(await store.destroy(oldId, Date.now()), true);
    for (const id of [oldId, successor]) {
      assert.equal(await raw(layout.session(id), "EXISTS", layout.session(id)), 0);
    }
    const index = layout.userIndex("renew-destroy");
    assert.deepEqual(await raw(index, "ZRANGE", index, "0", "-1"), [other.successor], "only its own entry");
    assert.equal(await store.destroy(oldId, Date.now()), false);
  });

  it("follows a forward of an anonymous session (no index) too", async () => {
    const { oldId, successor } = await renewed(store, "", 5_000);
    assert.deepEqual(await store.update(oldId, { set: { step: "2" }, maxBytes: BUDGET }, Date.now()), {});
    const taken = await store.take(oldId, Date.now());
    assert.ok(taken);
    assert.equal(taken.storageId, successor);
    assert.deepEqual(taken.fields, { name: "ada", step: "2" });
  });

  it("a forward whose successor is gone is no session for update, destroy and take (and load still reports it)", async () => {
    for (const operation of ["update", "destroy", "take"] as const) {
      const { oldId, successor, sealedToken } = await renewed(store, `renew-gone-${operation}`, 5_000);
      assert.equal(await store.destroy(successor, Date.now()), true);
      // The store never follows on load: the manager finds the successor gone when it loads it.
      assert.deepEqual(await store.load(oldId, policyAt(Date.now())), {
        forwardedTo: successor,
        sealedToken,
      });
      const now = Date.now();
      if (operation === "update") {
        assert.equal(await store.update(oldId, { set: { name: "x" }, maxBytes: BUDGET }, now), null);
      } else if (operation === "destroy") {
        assert.equal(await store.destroy(oldId, now), false);
      } else {
        assert.equal(await store.take(oldId, now), null);
      }
      // Nothing was brought back: no hash without meta fields where the successor was.
      const successorKey = layout.session(successor);
      assert.equal(await raw(successorKey, "EXISTS", successorKey), 0, operation);
    }
  });

  it("follows one hop only: a forward to a forward is no session", async () => {
    const { oldId, successor } = await renewed(store, "renew-hops", 5_000);
    const third = newId(tagOf(oldId));
    const again = await store.rotate(successor, third, policyAt(Date.now()), undefined, {
      sealedToken: "sealed-3",
      graceMs: 5_000,
    });
    assert.ok(again && !isForwarded(again));
    const now = Date.now();
    assert.equal(await store.update(oldId, { set: { name: "x" }, maxBytes: BUDGET }, now), null);
    assert.equal(await store.take(oldId, now), null);
    assert.deepEqual(await hashAt(raw, layout.session(successor)), { $s: third, $x: "sealed-3" });
    assert.equal((await hashAt(raw, layout.session(third))).name, "ada");
  });

  it("after graceMs the old id is gone", async () => {
    const { oldId, successor } = await renewed(store, "renew-expire", 150);
    await sleep(400);
    const oldKey = layout.session(oldId);
    assert.equal(await raw(oldKey, "EXISTS", oldKey), 0);
    const now = Date.now();
    assert.equal(await store.load(oldId, policyAt(now)), null);
    assert.equal(await store.update(oldId, { set: { name: "x" }, maxBytes: BUDGET }, now), null);
    assert.equal(await store.take(oldId, now), null);
    assert.equal(await store.destroy(oldId, now), false);
    const successorKey = layout.session(successor);
    assert.equal(await raw(successorKey, "EXISTS", successorKey), 1, "the successor lives on");
  });

  it("destroyForUser ends the successor; the forward then leads to no session", async () => {
    const { oldId, successor } = await renewed(store, "renew-revoked", 5_000);
    assert.equal(await store.destroyForUser("renew-revoked", Date.now()), 1);
    const successorKey = layout.session(successor);
    assert.equal(await raw(successorKey, "EXISTS", successorKey), 0);
    assert.equal(await store.update(oldId, { set: { name: "x" }, maxBytes: BUDGET }, Date.now()), null);
  });

  it("works without a per-user index", async () => {
    const unindexed = createRedisStore({ url: server.url, keyPrefix: "nx:", userIndex: false });
    try {
      await renewAndFollow(unindexed, raw, keyLayout("nx:"), "renew-unindexed");
    } finally {
      await unindexed.close();
    }
  });

  it("works on a node-redis client", async () => {
    const client = await createClient({ url: server.url }).connect();
    const borrowed = createRedisStore({ client, keyPrefix: "nr:" });
    try {
      await renewAndFollow(borrowed, raw, keyLayout("nr:"), "renew-node-redis");
    } finally {
      await borrowed.close();
      client.destroy();
    }
  });
});

describe("redis store: token renewal on a 3-master Cluster", () => {
  let cluster: RedisClusterHandle;
  /** Which master port serves each hash slot, from CLUSTER SLOTS. */
  let slotOwners: { from: number; to: number; port: number }[] = [];
  const node = (port: number, ...command: string[]) => respCommand({ host: "127.0.0.1", port }, ...command);
  const raw: Raw = async (key, ...command) => {
    const slot = (await node(cluster.ports[0] as number, "CLUSTER", "KEYSLOT", key)) as number;
    const owner = slotOwners.find((range) => slot >= range.from && slot <= range.to);
    assert.ok(owner, `no master serves slot ${slot}`);
    return node(owner.port, ...command);
  };

  before(async () => {
    cluster = await startRedisCluster({ masters: 3 });
    const slots = (await node(cluster.ports[0] as number, "CLUSTER", "SLOTS")) as RespReply[][];
    slotOwners = slots.map(([from, to, master]) => ({
      from: from as number,
      to: to as number,
      port: (master as RespReply[])[1] as number,
    }));
  });
  after(async () => {
    await cluster?.stop();
  });

  it("renews and follows the forward on ioredis, for users on every master", async () => {
    const store = createRedisStore({ clusterNodes: [cluster.urls[0] as string], commandTimeoutMs: 2000 });
    try {
      await store.ping();
      const layout = keyLayout("lk:");
      const masters = new Set<number>();
      for (let i = 0; masters.size < cluster.ports.length && i < 200; i++) {
        const userId = `renew-cluster-${i}`;
        const slot = (await node(
          cluster.ports[0] as number,
          "CLUSTER",
          "KEYSLOT",
          layout.userIndex(userId),
        )) as number;
        const owner = slotOwners.find((range) => slot >= range.from && slot <= range.to)?.port;
        if (owner === undefined || masters.has(owner)) continue;
        masters.add(owner);
        await renewAndFollow(store, raw, layout, userId);
      }
      assert.equal(masters.size, cluster.ports.length);
    } finally {
      await store.close();
    }
  });

  it("renews and follows the forward on a node-redis cluster, and take follows it", async () => {
    const client = createCluster({
      rootNodes: [{ url: cluster.urls[0] as string }],
      defaults: { socket: { reconnectStrategy: 100 } },
    });
    client.on("error", () => undefined);
    await client.connect();
    const store = createRedisStore({ client, keyPrefix: "nc:", commandTimeoutMs: 2000 });
    try {
      await store.ping();
      await renewAndFollow(store, raw, keyLayout("nc:"), "renew-node-cluster");
      const { oldId, successor } = await renewed(store, "renew-node-cluster-take");
      const taken = await store.take(oldId, Date.now());
      assert.equal(taken?.storageId, successor);
    } finally {
      await store.close();
      client.destroy();
    }
  });
});
