import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createSessionManager, type SessionManager } from "../../src/core/session-manager.js";
import { createRedisStore } from "../../src/stores/redis/index.js";
import { redisSessionIndex } from "./session-index.js";
import { suiteResources } from "./suite-resources.js";
import { assertFailoverSafe, assertNothingLost, startWriteLoad } from "./write-load.js";

type Manager = SessionManager<{ visits: "integer" }>;

/**
 * The failover checks must be able to fail: each breaks what one of them guards, on a single server and
 * without a fault (a second of load), and expects that check, and only that one, to trip.
 */
describe("test harness: the write load's checks trip", () => {
  const resources = suiteResources();
  const setUp = async () => {
    const server = await resources.started();
    const store = createRedisStore({ url: server.url });
    resources.defer(() => store.close());
    const sessions: Manager = createSessionManager({ store, fields: { visits: "integer" } });
    const index = redisSessionIndex(() => [{ host: "127.0.0.1", port: server.port }]);
    return { sessions, index };
  };

  it("counts a login missing from its index as such (not lost), and a lost login as lost", async () => {
    const { sessions, index } = await setUp();
    const logins: { token: string; userId: string }[] = [];
    const spied: Manager = {
      ...sessions,
      async create(...args: Parameters<Manager["create"]>) {
        const created = await sessions.create(...args);
        if (String(args[0]).startsWith("t-login-"))
          logins.push({ token: created.token, userId: String(args[0]) });
        return created;
      },
    };
    const load = await startWriteLoad(spied, { workers: 4, index, userPrefix: "t-" });
    resources.defer(() => load.stop());
    const revoking = load.startRevoking();
    await sleep(500);
    const [unindexed, destroyed] = logins;
    assert.ok(unindexed && destroyed, "the load logged in twice within 500 ms");
    // Behind the store's back, as a failover that kept the hash but not its index entry would.
    await index.remove(unindexed.userId, unindexed.token);
    await sessions.destroy(destroyed.token);
    await sleep(500);
    await revoking.stop();
    const report = await load.stopAndVerify();

    assert.equal(report.missingFromIndex, 1, report.summary);
    assert.equal(report.loginsLost, 1, report.summary);
    assert.equal(report.outlivedRevocation, 0, report.summary);
    assert.ok(report.sessionsRevoked > 0, report.summary);
    assert.throws(() => assertFailoverSafe(report), { message: /^missingFromIndex must be 0/ });
    assert.throws(() => assertNothingLost(report), { message: /^loginsLost must be 0/ });
  });

  it("counts the sessions that outlived an acknowledged revocation", async () => {
    const { sessions, index } = await setUp();
    // Acknowledges "log out everywhere" without doing it, as a failover that lost the revocation would.
    const forgetful: Manager = { ...sessions, destroyForUser: async () => 0 };
    const load = await startWriteLoad(forgetful, { workers: 4, index, userPrefix: "t-" });
    resources.defer(() => load.stop());
    const revoking = load.startRevoking();
    await sleep(1000);
    await revoking.stop();
    // Read back (and revoked after the fault) through the real manager.
    const report = await load.stopAndVerify(sessions);

    assert.ok(report.sessionsRevoked > 0, report.summary);
    assert.equal(report.outlivedRevocation, report.sessionsRevoked, report.summary);
    assert.equal(report.outlivedRevocationAfterHeal, 0, report.summary);
    assertFailoverSafe(report);
    assert.throws(() => assertNothingLost(report), { message: /^outlivedRevocation must be 0/ });
  });
});
