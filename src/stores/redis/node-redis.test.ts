import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, createClientPool, createCluster, createSentinel, RESP_TYPES } from "redis";
import { expectUnavailable as unavailable } from "../../../test/harness/expect-unavailable.js";
import { clientCommandsDuring } from "../../../test/harness/redis-monitor.js";
import {
  type RedisServerHandle,
  redisCommandCalls,
  startRedisServer,
} from "../../../test/harness/redis-servers.js";
import { respCommand } from "../../../test/harness/resp-client.js";
import { InvalidArgumentError, InvalidOptionError, isStoreUnavailable } from "../../core/errors.js";
import { createSessionManager } from "../../core/session-manager.js";
import { storageIdOf } from "../../core/token.js";
import { createRedisStore, type RedisStoreOptions } from "./index.js";
import { keyLayout } from "./keys.js";

const SCHEMA = { name: "string", visits: "integer", prefs: "json" } as const;

describe("redis store on a node-redis client", () => {
  let server: RedisServerHandle;
  const clients: { destroy(): void }[] = [];
  const raw = (...command: string[]) => respCommand({ host: "127.0.0.1", port: server.port }, ...command);
  /** A client connected by the caller, as the README shows. */
  const connect = async (options: Parameters<typeof createClient>[0] = {}) => {
    const client = await createClient({ url: server.url, ...options }).connect();
    clients.push(client);
    return client;
  };

  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    for (const client of clients) client.destroy();
    await server.stop();
  });

  it('is of kind "redis", works, and close() leaves the client open', async () => {
    const client = await connect();
    const store = createRedisStore({ client });
    assert.equal(store.kind, "redis");
    const sessions = createSessionManager({ store });
    const { token } = await sessions.create("borrowed");
    assert.ok(await sessions.load(token));
    await store.close();
    await store.close();
    assert.equal(await client.ping(), "PONG", "the caller's client is still open");
    await assert.rejects(
      store.ping(),
      (error: Error) => isStoreUnavailable(error) && /closed/.test(error.message),
    );
  });

  it("a load is exactly one Redis command: one EVALSHA, with or without increments", async () => {
    const store = createRedisStore({ client: await connect(), keyPrefix: "one:" });
    const sessions = createSessionManager({ store, fields: SCHEMA });
    const { token } = await sessions.create("one-command", { data: { visits: 1 } });
    await sessions.load(token); // the script is known to the server from here on
    for (const options of [undefined, { increment: { visits: 2 } }]) {
      const before = await redisCommandCalls(server.url);
      const sent = await clientCommandsDuring(server.url, async () =>
        assert.ok(await sessions.load(token, options)),
      );
      const after = await redisCommandCalls(server.url);
      assert.equal((after.evalsha ?? 0) - (before.evalsha ?? 0), 1);
      assert.equal((after.eval ?? 0) - (before.eval ?? 0), 0);
      assert.deepEqual(sent, ["evalsha"]);
    }
    await store.close();
  });

  it("recovers from a flushed script cache by sending the script again, once", async () => {
    const store = createRedisStore({ client: await connect(), keyPrefix: "noscript:" });
    const sessions = createSessionManager({ store });
    const { token } = await sessions.create("noscript");
    assert.equal(await raw("SCRIPT", "FLUSH"), "OK");
    const sent = await clientCommandsDuring(server.url, async () => assert.ok(await sessions.load(token)));
    assert.deepEqual(sent, ["evalsha", "eval"]);
    assert.deepEqual(await clientCommandsDuring(server.url, () => sessions.load(token)), ["evalsha"]);
    await store.close();
  });

  // node-redis 6 speaks RESP3 by default, 5 RESP2; a caller's type mapping (Buffers) must not leak in,
  // whether the client was created with it or is a withTypeMapping() proxy (the store asks for the
  // default reply types only when the client may map them).
  const buffers = { [RESP_TYPES.BLOB_STRING]: Buffer };
  const variants = {
    "RESP 2": () => connect({ RESP: 2 }),
    "RESP 3": () => connect({ RESP: 3 }),
    "Buffer type mapping": () => connect({ commandOptions: { typeMapping: buffers } }),
    "withTypeMapping proxy": async () => (await connect()).withTypeMapping(buffers),
  } as const;
  for (const [name, connectVariant] of Object.entries(variants)) {
    it(`reads every reply as with ioredis: ${name}`, async () => {
      const client = await connectVariant();
      const store = createRedisStore({ client, keyPrefix: `${name.replace(/ /g, "-")}:` });
      const sessions = createSessionManager({ store, fields: SCHEMA });
      const { token } = await sessions.create("shapes", {
        data: { name: "Ada", visits: 1, prefs: { a: [1] } },
        userAgent: "agent",
      });
      const loaded = await sessions.load(token, { increment: { visits: 2 } });
      assert.deepEqual(loaded?.data, { name: "Ada", visits: 3, prefs: { a: [1] } });
      assert.equal(loaded?.userAgent, "agent");
      assert.equal(await sessions.increment(token, "visits", 4), 7);
      assert.equal(await sessions.set(token, { name: "Grace" }), true);
      assert.equal((await sessions.listForUser("shapes"))[0]?.data.name, "Grace");
      const rotated = await sessions.rotate(token);
      assert.ok(rotated);
      assert.equal(await sessions.load(token), null);
      assert.equal(await sessions.load("A".repeat(43)), null, "an unknown token is nil, read as null");
      assert.equal(await sessions.destroy(rotated.token), true, "destroy's [1, userId]");
      assert.equal(await sessions.destroy(rotated.token), false, "destroy's [0, '']");
      assert.equal(await sessions.increment(rotated.token, "visits"), null);
      assert.equal(await store.records.insert("r", { a: "1", b: "2" }), true);
      assert.equal(await store.records.insert("r", { a: "x" }), false);
      assert.deepEqual(await store.records.get("r"), { a: "1", b: "2" });
      assert.equal(await store.records.get("none"), null);
      await store.records.delete("r");
      assert.equal(await store.records.get("r"), null);
      await store.ping();
      await store.close();
    });
  }

  it("a script's LATCHKEY_INVALID reply is InvalidArgumentError, not unavailability", async () => {
    const store = createRedisStore({ client: await connect(), keyPrefix: "invalid:" });
    const sessions = createSessionManager({ store, fields: SCHEMA });
    const { token } = await sessions.create("invalid");
    assert.equal(await raw("HSET", keyLayout("invalid:").session(storageIdOf(token)), "visits", "many"), 1);
    await assert.rejects(
      sessions.increment(token, "visits"),
      (error: Error) =>
        error instanceof InvalidArgumentError && /holds "many", not an integer/.test(error.message),
    );
    await store.close();
  });

  it("refusals (OOM, READONLY) are StoreUnavailableError", async () => {
    const full = await startRedisServer({ args: ["--maxmemory", "1", "--maxmemory-policy", "noeviction"] });
    const replica = await startRedisServer({ args: ["--replicaof", "127.0.0.1", String(server.port)] });
    try {
      for (const [target, pattern] of [
        [full, /OOM/],
        [replica, /READONLY/],
      ] as const) {
        const client = await createClient({ url: target.url }).connect();
        try {
          const store = createRedisStore({ client });
          const { error } = await unavailable(() => createSessionManager({ store }).create("refused"));
          assert.match(error.message, pattern);
          await store.close();
        } finally {
          client.destroy(); // before its server stops: a client without an error listener would throw
        }
      }
    } finally {
      await full.stop();
      await replica.stop();
    }
  });

  it("refuses what is not an ioredis or node-redis client or cluster, naming client", () => {
    const refused = (client: unknown, pattern: RegExp) =>
      assert.throws(
        () => createRedisStore({ client } as RedisStoreOptions),
        (error: unknown) =>
          error instanceof InvalidOptionError && error.option === "client" && pattern.test(error.message),
      );
    const generic =
      /must be an ioredis Redis or Cluster instance, or a node-redis client \(createClient\) or cluster \(createCluster\)/;
    refused({}, generic);
    refused("redis://localhost", generic);
    refused({ sendCommand: () => undefined }, generic);
    refused(createClient().legacy(), generic);
    refused(createClientPool(), generic);
    refused(createSentinel({ name: "m", sentinelRootNodes: [{ host: "127.0.0.1", port: 1 }] }), /Sentinel/);
    // The node-redis options that belong on the client are refused as for ioredis.
    const cluster = createCluster({ rootNodes: [] });
    assert.throws(() => createRedisStore({ client: cluster, tls: {} }), /configure TLS on your client/);
    assert.equal(createRedisStore({ client: cluster }).kind, "redis-cluster");
  });
});
