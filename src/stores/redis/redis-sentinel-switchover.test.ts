import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type RedisServerHandle,
  startRedisSentinel,
  startRedisServer,
} from "../../../test/harness/redis-servers.js";
import { type RespReply, respCommand } from "../../../test/harness/resp-client.js";
import { redisSessionIndex } from "../../../test/harness/session-index.js";
import { suiteResources } from "../../../test/harness/suite-resources.js";
import { assertFailoverSafe, assertNothingLost, startWriteLoad } from "../../../test/harness/write-load.js";
import { isStoreUnavailable } from "../../core/errors.js";
import { createSessionManager } from "../../core/session-manager.js";
import type { SessionStore } from "../../core/session-store.js";
import { createRedisStore, type RedisStoreOptions } from "./index.js";

/**
 * Sentinel failovers under load (1 master, 1 replica, 3 sentinels; test/harness/write-load.ts: views
 * that count and logins). A planned switchover (`SENTINEL FAILOVER`), as issue 12 found it: the client
 * must move to the promoted replica, and with waitForReplicas no write it acknowledged may be lost when
 * the old master is demoted and resynced. An unplanned one (the master shut down) may not lose one
 * either: Redis waits for its replicas before it shuts down (see the test). A crash (SIGKILL) may lose
 * what replication had not carried, unless waitForReplicas; none may double a write or leave a session
 * that "log out everywhere" cannot end, including revocations made while the failover is under way.
 * Each run reports its 503 window.
 */
const SENTINELS = 3;
const WORKERS = 16;
/** `down-after-milliseconds` of the unplanned runs; the README's figures were measured at 5000 and 30000. */
const DOWN_AFTER_MS = Number(process.env.LATCHKEY_SENTINEL_DOWN_AFTER_MS ?? 5000);

const roleOf = async (port: number): Promise<string> => {
  const reply = await respCommand({ host: "127.0.0.1", port }, "ROLE").catch(() => null);
  return Array.isArray(reply) ? String(reply[0]) : "down";
};
const infoField = async (port: number, field: string): Promise<string | undefined> => {
  const reply = (await respCommand({ host: "127.0.0.1", port }, "INFO", "replication")) as RespReply;
  return typeof reply === "string" ? reply.match(new RegExp(`^${field}:(.*)\\r?$`, "m"))?.[1] : undefined;
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

describe("redis store through Sentinel failovers", () => {
  const resources = suiteResources();

  /** A master, its replica (in sync) and three sentinels that know both. */
  const startGroup = async ({ downAfterMs }: { downAfterMs: number }) => {
    // A full resync writes an RDB file unless both sides stream it: keep them off the working tree.
    const dir = await mkdtemp(join(tmpdir(), "latchkey-switchover-"));
    resources.defer(() => rm(dir, { recursive: true, force: true }));
    const replication = [
      "--dir",
      dir,
      "--repl-diskless-sync",
      "yes",
      "--repl-diskless-sync-delay",
      "0",
      "--repl-diskless-load",
      "swapdb",
    ];
    const master = await resources.started(replication);
    const replica = await startRedisServer({ args: replication, replicaOf: master.port });
    resources.defer(() => replica.stop());
    const sentinels: RedisServerHandle[] = [];
    for (let i = 0; i < SENTINELS; i++) {
      const sentinel = await startRedisSentinel({ masterPort: master.port, downAfterMs });
      resources.defer(() => sentinel.stop());
      sentinels.push(sentinel);
    }
    // Each sentinel must know the replica before it can promote it.
    await waitUntil("the sentinels to find the replica", async () => {
      const replies = await Promise.all(
        sentinels.map((s) =>
          respCommand({ host: "127.0.0.1", port: s.port }, "SENTINEL", "REPLICAS", "mymaster"),
        ),
      );
      return replies.every((reply) => Array.isArray(reply) && reply.length === 1);
    });
    /** Another replica of the server on `port` (in sync when it resolves). */
    const addReplica = async (port: number) => {
      const added = await startRedisServer({ args: replication, replicaOf: port });
      resources.defer(() => added.stop());
    };
    return { master, replica, sentinels, addReplica };
  };
  const sentinelStore = (sentinels: RedisServerHandle[], options: Partial<RedisStoreOptions> = {}) => {
    const store = createRedisStore({
      sentinels: sentinels.map((s) => ({ host: "127.0.0.1", port: s.port })),
      sentinelName: "mymaster",
      commandTimeoutMs: 1000,
      ...options,
    });
    resources.defer(() => store.close());
    return store;
  };
  const underLoad = async (store: SessionStore, sentinels: RedisServerHandle[], userPrefix: string) => {
    const sessions = createSessionManager({ store, fields: { visits: "integer" } });
    await store.ping();
    // The index is read on the master the sentinels name at the time: after a failover, the promoted one.
    const index = redisSessionIndex(async () => {
      const reply = await respCommand(
        { host: "127.0.0.1", port: sentinels[0]?.port as number },
        "SENTINEL",
        "GET-MASTER-ADDR-BY-NAME",
        "mymaster",
      );
      if (!Array.isArray(reply)) throw new Error(`no master named by the sentinel: ${String(reply)}`);
      return [{ host: String(reply[0]), port: Number(reply[1]) }];
    });
    const load = await startWriteLoad(sessions, { workers: WORKERS, index, userPrefix });
    // Whatever fails, the clients stop: a failing test must not leave them running and the process alive.
    resources.defer(() => load.stop());
    return load;
  };

  it("planned (SENTINEL FAILOVER) with waitForReplicas: moves to the promoted replica and loses no acknowledged write", async (t) => {
    const { master, replica, sentinels } = await startGroup({ downAfterMs: 1000 });
    const store = sentinelStore(sentinels, {
      // Without it the old master, not yet demoted, acknowledged writes that its demotion then erased:
      // 243,124 of 364,131 counted views and 27,018 of 40,454 logins in one run on this machine.
      // 400 ms, not less: on a loaded CI machine a healthy replica's acknowledgement took over 200 ms.
      waitForReplicas: { replicas: 1, timeoutMs: 400 },
    });
    const load = await underLoad(store, sentinels, "planned-");
    await sleep(1000);

    // "Log out everywhere" while the switchover is under way, until every client is served again: a
    // revocation the old master acknowledged before its demotion must not be erased by its resync.
    const revoking = load.startRevoking();
    const reply = await respCommand(
      { host: "127.0.0.1", port: sentinels[0]?.port as number },
      "SENTINEL",
      "FAILOVER",
      "mymaster",
    );
    assert.equal(reply, "OK");
    await waitUntil("the replica's promotion", async () => (await roleOf(replica.port)) === "master");
    await waitUntil(
      "the old master to be demoted and resynced",
      async () =>
        (await roleOf(master.port)) === "slave" &&
        (await infoField(master.port, "master_link_status")) === "up",
    );
    // Every client served again, then a second more of load on the new master.
    await load.untilServing();
    await revoking.stop();
    await sleep(1000);
    // Read back through the store, now on the promoted replica.
    const report = await load.stopAndVerify();
    t.diagnostic(`sentinel planned switchover: ${report.summary}`);
    assertFailoverSafe(report);
    assertNothingLost(report);
  });

  it(`unplanned (the master shut down, down-after ${DOWN_AFTER_MS} ms): the replica takes over and no acknowledged write is lost`, async (t) => {
    const { master, replica, sentinels } = await startGroup({ downAfterMs: DOWN_AFTER_MS });
    const store = sentinelStore(sentinels);
    const load = await underLoad(store, sentinels, "unplanned-");
    await sleep(1000);
    const keepsWrites = await waitsForReplicasAtShutdown(master.port);
    // "Log out everywhere" from just before the shutdown until every client is served again.
    const revoking = load.startRevoking();
    await respCommand({ host: "127.0.0.1", port: master.port }, "SHUTDOWN", "NOSAVE").catch(() => undefined);
    await waitUntil(
      "the replica's promotion",
      async () => (await roleOf(replica.port)) === "master",
      DOWN_AFTER_MS + 60_000,
    );
    // Every client served again, then a second more of load on the new master.
    await load.untilServing();
    await revoking.stop();
    await sleep(1000);
    const report = await load.stopAndVerify();
    t.diagnostic(`sentinel unplanned failover: ${report.summary}`);
    assertFailoverSafe(report);
    // 0, not a bound: SHUTDOWN (and SIGTERM) makes Redis >= 7 stop acknowledging writes and wait, up to
    // `shutdown-timeout` (10 s), until its replicas have every write before it exits ("1 of 1 replicas
    // are in sync when shutting down" in its log), so every write it acknowledged is on the replica that
    // takes over. It does not rest on the replica being on this host. A crash has no such wait: below.
    if (keepsWrites) assertNothingLost(report);
    else t.diagnostic("Redis < 7 does not wait for its replicas at shutdown: losses reported, not asserted");
  });

  for (const waitForReplicas of [undefined, { replicas: 1, timeoutMs: 400 }]) {
    const title = waitForReplicas
      ? "with waitForReplicas: the replica takes over and no acknowledged write is lost"
      : "the replica takes over; writes the replica had not received are reported, not asserted";
    it(`crashed (the master killed, down-after ${DOWN_AFTER_MS} ms) ${title}`, async (t) => {
      const { master, replica, sentinels, addReplica } = await startGroup({ downAfterMs: DOWN_AFTER_MS });
      const store = sentinelStore(sentinels, waitForReplicas ? { waitForReplicas } : {});
      const load = await underLoad(store, sentinels, waitForReplicas ? "crash-wait-" : "crash-");
      await sleep(1000);
      const revoking = load.startRevoking();
      const info = await respCommand({ host: "127.0.0.1", port: master.port }, "INFO", "server");
      const pid = Number(/^process_id:(\d+)/m.exec(String(info))?.[1]);
      assert.ok(pid > 0, "the master's pid");
      process.kill(pid, "SIGKILL");
      await waitUntil(
        "the replica's promotion",
        async () => (await roleOf(replica.port)) === "master",
        DOWN_AFTER_MS + 60_000,
      );
      // With waitForReplicas the promoted replica confirms no write until it has a replica of its own.
      if (waitForReplicas) await addReplica(replica.port);
      await load.untilServing();
      await revoking.stop();
      await sleep(1000);
      const report = await load.stopAndVerify();
      t.diagnostic(`sentinel crash${waitForReplicas ? " with waitForReplicas" : ""}: ${report.summary}`);
      assertFailoverSafe(report);
      // Without waitForReplicas no figure can be promised: a write may be acknowledged before its
      // replication stream has been sent, and a process killed in between loses it, however near the
      // replica. With it, every acknowledged write was confirmed by the one replica, which takes over.
      if (waitForReplicas) assertNothingLost(report);
    });
  }

  it("with waitForReplicas and no replica to confirm: writes fail as unavailable, plain loads still work", async () => {
    const server = await resources.started();
    const plain = createRedisStore({ url: server.url });
    resources.defer(() => plain.close());
    const waiting = createRedisStore({ url: server.url, waitForReplicas: { replicas: 1, timeoutMs: 50 } });
    resources.defer(() => waiting.close());
    const { token } = await createSessionManager({ store: plain, fields: { visits: "integer" } }).create(
      "ada",
    );
    const sessions = createSessionManager({ store: waiting, fields: { visits: "integer" } });

    assert.equal((await sessions.load(token))?.userId, "ada", "a load without a counter does not wait");
    await assert.rejects(sessions.load(token, { increment: { visits: 1 } }), (error: Error) => {
      assert.ok(isStoreUnavailable(error));
      assert.match(error.message, /confirmed by 0 of 1 replica\(s\) within 50 ms \(waitForReplicas\)/);
      return true;
    });
    await assert.rejects(sessions.create("grace"), isStoreUnavailable);
    await assert.rejects(sessions.destroy(token), isStoreUnavailable);
    await assert.rejects(waiting.records.insert("k", { a: "1" }), isStoreUnavailable);
    await assert.rejects(waiting.records.delete("k"), isStoreUnavailable);
  });
});
