import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Cluster } from "ioredis";
import { createCluster } from "redis";
import { killConnectionsRepeatedly } from "../../../test/harness/connection-killer.js";
import { type RedisClusterHandle, startRedisCluster } from "../../../test/harness/redis-servers.js";
import { isStoreUnavailable } from "../../core/errors.js";
import { createSessionManager } from "../../core/session-manager.js";
import type { SessionStore } from "../../core/session-store.js";
import { storageIdOf } from "../../core/token.js";
import { createRedisStore } from "./index.js";
import { keyLayout } from "./keys.js";

/**
 * The README promises that an increment cannot count twice. On a Cluster, a client that resends a
 * script after its connection dropped (ioredis's retryDelayOnFailover) runs it twice whenever the
 * first run's reply was lost with the connection. Here every call increments a field of its own, so
 * a field at 2 is a call that ran twice, whatever else happened.
 */
const RUN_MS = 4000;
const KILL_EVERY_MS = 100;
const WORKERS = 40;
const SESSIONS = 24;

interface Outcome {
  acknowledged: number;
  failed: number;
  /** Fields at 2 or more: calls applied more than once. */
  doubled: number;
  /** Failed calls whose increment was applied all the same (allowed: their outcome was unknown). */
  failedButApplied: number;
  /** What the failed calls that were applied all the same had been told, by kind. */
  appliedAfter: Record<string, number>;
  /** Every failure, by kind. */
  failures: Record<string, number>;
  /** Acknowledged calls whose field is not 1 (must be none). */
  acknowledgedMissing: number;
  total: number;
  killRounds: number;
  killed: number;
  otherErrors: string[];
}

async function incrementUnderKills(store: SessionStore, cluster: RedisClusterHandle): Promise<Outcome> {
  const sessions = createSessionManager({ store });
  const ids: string[] = [];
  for (let i = 0; i < SESSIONS; i++) ids.push(storageIdOf((await sessions.create(`replay-${i}`)).token));
  const acknowledged = new Set<number>();
  const failed = new Map<number, string>();
  const otherErrors: string[] = [];
  let next = 0;
  const deadline = Date.now() + RUN_MS;
  const killer = killConnectionsRepeatedly(cluster.ports, KILL_EVERY_MS);
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const call = next++;
      try {
        const counted = await store.update(
          ids[call % SESSIONS] as string,
          { increment: { [`c${call}`]: 1 }, maxBytes: 1 << 20 },
          Date.now(),
        );
        const value = counted?.[`c${call}`];
        // An answer of 2 is a call that ran twice before it was acknowledged: the fields say so below.
        if (typeof value === "number") acknowledged.add(call);
        else otherErrors.push(`call ${call} answered ${String(value)}`);
      } catch (error) {
        if (isStoreUnavailable(error)) failed.set(call, kindOf(error.message));
        else otherErrors.push(String(error));
        // A call that fails at once must not starve the timers (reconnects, the killer) of the loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  const { rounds, killed } = await killer.stop();

  // A resend can come late (after a slot map refresh): give the client time to send what it holds.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const reader = new Cluster(cluster.ports.map((port) => ({ host: "127.0.0.1", port })));
  const values = new Map<number, number>();
  try {
    for (const id of ids) {
      const hash = await reader.hgetall(keyLayout("lk:").session(id));
      for (const [field, value] of Object.entries(hash)) {
        if (field.startsWith("c")) values.set(Number(field.slice(1)), Number(value));
      }
    }
  } finally {
    reader.disconnect();
  }
  let doubled = 0;
  let failedButApplied = 0;
  const appliedAfter: Record<string, number> = {};
  let acknowledgedMissing = 0;
  let total = 0;
  for (const [call, value] of values) {
    total += value;
    if (value > 1) doubled += 1;
    const failure = failed.get(call);
    if (failure !== undefined) {
      failedButApplied += 1;
      appliedAfter[failure] = (appliedAfter[failure] ?? 0) + 1;
    }
  }
  for (const call of acknowledged) if (values.get(call) !== 1) acknowledgedMissing += 1;
  return {
    acknowledged: acknowledged.size,
    failed: failed.size,
    doubled,
    failedButApplied,
    appliedAfter,
    failures: tally(failed.values()),
    acknowledgedMissing,
    total,
    killRounds: rounds,
    killed,
    otherErrors,
  };
}

/** A failure's kind: its message without the runner's prefix, numbers and addresses. */
function kindOf(message: string): string {
  return message
    .replace(/^latchkey: \S+ \S+ failed: /, "")
    .replace(/[\d.:]+/g, "#")
    .slice(0, 90);
}

function tally(kinds: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of kinds) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

function assertNoneTwice(outcome: Outcome, diagnostic: (message: string) => void): void {
  const summary = JSON.stringify({ ...outcome, otherErrors: outcome.otherErrors.slice(0, 3) });
  diagnostic(summary);
  assert.deepEqual(outcome.otherErrors, [], summary);
  assert.ok(outcome.killed > 0 && outcome.failed > 0, `the kills made calls fail: ${summary}`);
  assert.ok(outcome.acknowledged > 0, `calls succeeded between the kills: ${summary}`);
  assert.equal(outcome.acknowledgedMissing, 0, `every acknowledged increment is there once: ${summary}`);
  assert.equal(outcome.doubled, 0, `no call is applied twice: ${summary}`);
  assert.equal(outcome.total, outcome.acknowledged + outcome.failedButApplied, summary);
  assert.ok(outcome.failedButApplied <= outcome.failed, summary);
}

describe("Cluster: connections killed every 100 ms under load never apply an increment twice", () => {
  let cluster: RedisClusterHandle;
  before(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  });
  after(async () => {
    await cluster?.stop();
  });

  it("with the store's own ioredis Cluster client", async (t) => {
    const store = createRedisStore({ clusterNodes: cluster.urls, commandTimeoutMs: 1000 });
    try {
      await store.ping();
      assertNoneTwice(await incrementUnderKills(store, cluster), (m) => t.diagnostic(m));
    } finally {
      await store.close();
    }
  });

  it("with an ioredis Cluster of the caller's, created with retryDelayOnFailover: 0", async (t) => {
    const client = new Cluster(
      cluster.ports.map((port) => ({ host: "127.0.0.1", port })),
      { retryDelayOnFailover: 0 },
    );
    client.on("error", () => undefined);
    const store = createRedisStore({ client, commandTimeoutMs: 1000 });
    try {
      await store.ping();
      assertNoneTwice(await incrementUnderKills(store, cluster), (m) => t.diagnostic(m));
    } finally {
      await store.close();
      client.disconnect();
    }
  });

  it("with a node-redis cluster of the caller's", async (t) => {
    const client = createCluster({
      rootNodes: cluster.urls.map((url) => ({ url })),
      defaults: { socket: { reconnectStrategy: 50 } },
    });
    client.on("error", () => undefined);
    await client.connect();
    const store = createRedisStore({ client, commandTimeoutMs: 1000 });
    try {
      await store.ping();
      assertNoneTwice(await incrementUnderKills(store, cluster), (m) => t.diagnostic(m));
    } finally {
      await store.close();
      client.destroy();
    }
  });
});

describe("Cluster with replicas: every connection killed at once, every 100 ms", () => {
  let cluster: RedisClusterHandle;
  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  });
  after(async () => {
    await cluster?.stop();
  });

  it("sends writes to masters only (no READONLY from a replica) and applies none twice", async (t) => {
    const store = createRedisStore({ clusterNodes: cluster.urls, commandTimeoutMs: 1000 });
    try {
      await store.ping();
      const outcome = await incrementUnderKills(store, cluster);
      const readonly = Object.entries(outcome.failures)
        .filter(([kind]) => /READONLY|read-only replica/i.test(kind))
        .reduce((sum, [, count]) => sum + count, 0);
      assert.equal(readonly, 0, `calls sent to a replica: ${JSON.stringify(outcome.failures)}`);
      assertNoneTwice(outcome, (m) => t.diagnostic(m));
    } finally {
      await store.close();
    }
  });
});
