import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type RedisClusterHandle, startRedisCluster } from "../../../test/harness/redis-servers.js";
import { type RespReply, respCommand } from "../../../test/harness/resp-client.js";
import { redisSessionIndex } from "../../../test/harness/session-index.js";
import {
  assertFailoverSafe,
  assertNothingLost,
  startWriteLoad,
  type WriteLoad,
} from "../../../test/harness/write-load.js";
import { createSessionManager } from "../../core/session-manager.js";
import type { SessionStore } from "../../core/session-store.js";
import { createRedisStore } from "./index.js";

/**
 * Cluster failovers under load (3 masters, 3 replicas), as issue 12 asked: a planned one (`CLUSTER
 * FAILOVER` on a replica: the master stops writes until its replica has caught up, then they swap) must
 * lose no acknowledged write; nor may an unplanned one (a master shut down without saving: Redis waits
 * for its replicas first, see the test); and neither may double a write nor leave a session that "log
 * out everywhere" cannot end, including revocations made while the failover is under way. Each run
 * reports its 503 window. `cluster-node-timeout` is
 * LATCHKEY_CLUSTER_NODE_TIMEOUT_MS (default 5000, as the README's figures; they were also measured at
 * 15000).
 */
const NODE_TIMEOUT_MS = Number(process.env.LATCHKEY_CLUSTER_NODE_TIMEOUT_MS ?? 5000);
const WORKERS = 16;

const roleOf = async (port: number): Promise<RespReply[] | undefined> => {
  const reply = await respCommand({ host: "127.0.0.1", port }, "ROLE").catch(() => undefined);
  return Array.isArray(reply) ? reply : undefined;
};
const waitUntil = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
};
/** Redis >= 7 waits for its replicas before it shuts down (`shutdown-timeout`); older ones do not. */
const waitsForReplicasAtShutdown = async (port: number): Promise<boolean> => {
  const info = await respCommand({ host: "127.0.0.1", port }, "INFO", "server");
  return Number(/^redis_version:(\d+)/m.exec(String(info))?.[1]) >= 7;
};
/** The port of a replica of the master on `masterPort`. */
const replicaOf = async (cluster: RedisClusterHandle, masterPort: number): Promise<number> => {
  for (const port of cluster.ports) {
    const role = await roleOf(port);
    if (role?.[0] === "slave" && role[2] === masterPort) return port;
  }
  throw new Error(`no replica of ${masterPort}`);
};

describe(`redis store through Cluster failovers (node timeout ${NODE_TIMEOUT_MS} ms)`, () => {
  let cluster: RedisClusterHandle;
  let store: SessionStore;
  let load: WriteLoad | undefined;
  // Any node: a MOVED reply names the master of the index's slot, a node shut down is skipped.
  const index = redisSessionIndex(() => cluster.ports.map((port) => ({ host: "127.0.0.1", port })));
  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: NODE_TIMEOUT_MS });
    store = createRedisStore({ clusterNodes: cluster.urls, commandTimeoutMs: 1000 });
    await store.ping();
  });
  after(async () => {
    await load?.stop();
    await store?.close();
    await cluster?.stop();
  });

  it("planned (CLUSTER FAILOVER): the promoted replica takes over and no acknowledged write is lost", async (t) => {
    const sessions = createSessionManager({ store, fields: { visits: "integer" } });
    const master = cluster.ports[0] as number;
    const replica = await replicaOf(cluster, master);
    load = await startWriteLoad(sessions, { workers: WORKERS, index, userPrefix: "planned-" });
    await sleep(1000);
    // "Log out everywhere" while the masters swap, until every client is served again.
    const revoking = load.startRevoking();
    assert.equal(await respCommand({ host: "127.0.0.1", port: replica }, "CLUSTER", "FAILOVER"), "OK");
    await waitUntil("the replica's promotion", async () => (await roleOf(replica))?.[0] === "master");
    await waitUntil("the old master to follow it", async () => (await roleOf(master))?.[0] === "slave");
    // Every client served again, then a second more of load on the new master.
    await load.untilServing();
    await revoking.stop();
    await sleep(1000);
    const report = await load.stopAndVerify();
    t.diagnostic(`cluster planned failover: ${report.summary}`);
    assertFailoverSafe(report);
    assertNothingLost(report);
  });

  // Last: the master it shuts down stays down.
  it("unplanned (a master shut down): its replica takes over and no acknowledged write is lost", async (t) => {
    const sessions = createSessionManager({ store, fields: { visits: "integer" } });
    const roles = await Promise.all(cluster.ports.map(async (port) => [port, await roleOf(port)] as const));
    const master = roles.find(([, role]) => role?.[0] === "master")?.[0] as number;
    const replica = await replicaOf(cluster, master);
    load = await startWriteLoad(sessions, { workers: WORKERS, index, userPrefix: "unplanned-" });
    await sleep(1000);
    const keepsWrites = await waitsForReplicasAtShutdown(master);
    // "Log out everywhere" from just before the shutdown until every client is served again.
    const revoking = load.startRevoking();
    await respCommand({ host: "127.0.0.1", port: master }, "SHUTDOWN", "NOSAVE").catch(() => undefined);
    await waitUntil("the replica's promotion", async () => (await roleOf(replica))?.[0] === "master");
    // Every client served again, then a second more of load on the new master.
    await load.untilServing();
    await revoking.stop();
    await sleep(1000);
    const report = await load.stopAndVerify();
    t.diagnostic(`cluster unplanned failover: ${report.summary}`);
    assertFailoverSafe(report);
    // 0, not a bound: SHUTDOWN (and SIGTERM) makes Redis >= 7 stop acknowledging writes and wait, up to
    // `shutdown-timeout` (10 s), until its replicas have every write before it exits ("1 of 1 replicas
    // are in sync when shutting down" in its log), so every write it acknowledged is on the replica that
    // takes over. It does not rest on the replica being on this host. A crash has no such wait: see
    // the Sentinel crash tests.
    if (keepsWrites) assertNothingLost(report);
    else t.diagnostic("Redis < 7 does not wait for its replicas at shutdown: losses reported, not asserted");
  });
});
