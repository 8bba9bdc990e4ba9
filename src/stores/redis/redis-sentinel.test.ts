import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type RedisServerHandle,
  startRedisSentinel,
  startRedisServer,
} from "../../../test/harness/redis-servers.js";
import { isStoreUnavailable } from "../../core/errors.js";
import { createSessionManager } from "../../core/session-manager.js";
import { createRedisStore } from "./index.js";

describe("redis store through Redis Sentinel", () => {
  let master: RedisServerHandle;
  let sentinel: RedisServerHandle;
  before(async () => {
    master = await startRedisServer({ args: ["--requirepass", "master-pass"] });
    sentinel = await startRedisSentinel({ masterPort: master.port, masterPassword: "master-pass" });
  });
  after(async () => {
    await sentinel?.stop();
    await master?.stop();
  });

  it("finds the master through the sentinels and authenticates to it", async () => {
    const store = createRedisStore({
      sentinels: [{ host: "127.0.0.1", port: sentinel.port }],
      sentinelName: "mymaster",
      password: "master-pass",
    });
    try {
      assert.equal(store.kind, "redis-sentinel");
      await store.ping();
      const sessions = createSessionManager({ store, fields: { visits: "integer" } });
      const { token } = await sessions.create("sentinel-user");
      assert.equal((await sessions.load(token, { increment: { visits: 1 } }))?.data.visits, 1);
    } finally {
      await store.close();
    }
  });

  it("an unknown master name is StoreUnavailableError, not a hang", async () => {
    const store = createRedisStore({
      sentinels: [{ host: "127.0.0.1", port: sentinel.port }],
      sentinelName: "no-such-master",
      password: "master-pass",
    });
    try {
      const started = Date.now();
      await assert.rejects(store.ping(), isStoreUnavailable);
      assert.ok(Date.now() - started < 1500);
    } finally {
      await store.close();
    }
  });
});
