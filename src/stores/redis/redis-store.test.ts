import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { dumpRedis } from "../../../test/harness/redis-dump.js";
import { clientCommandsDuring } from "../../../test/harness/redis-monitor.js";
import {
  type RedisServerHandle,
  redisCommandCalls,
  startRedisServer,
} from "../../../test/harness/redis-servers.js";
import { respCommand, respCommands } from "../../../test/harness/resp-client.js";
import { isStoreUnavailable } from "../../core/errors.js";
import { createSessionManager } from "../../core/session-manager.js";
import { storageIdOf, userTagOf } from "../../core/token.js";
import { createRedisStore, type RedisStore } from "./index.js";
import { keyLayout } from "./keys.js";

const SCHEMA = { name: "string", visits: "integer", prefs: "json" } as const;

describe("redis store on a real redis-server", () => {
  let server: RedisServerHandle;
  let store: RedisStore;
  const raw = (...command: string[]) => respCommand({ host: "127.0.0.1", port: server.port }, ...command);

  before(async () => {
    server = await startRedisServer();
    store = createRedisStore({ url: server.url });
    await store.ping();
  });
  after(async () => {
    await store.close();
    await server.stop();
  });

  it('is of kind "redis"', () => {
    assert.equal(store.kind, "redis");
  });

  it("never writes a token to any key or value, and lays keys out as documented", async () => {
    const sessions = createSessionManager({ store, fields: SCHEMA });
    const tokens: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { token } = await sessions.create("token-user", {
        data: { name: `n${i}`, visits: i, prefs: { i } },
        userAgent: "agent",
        ip: "192.0.2.1",
      });
      tokens.push(token);
      await sessions.load(token, { increment: { visits: 1 } });
      await sessions.set(token, { name: "changed" });
    }
    const rotated = await sessions.rotate(tokens[0] as string);
    assert.ok(rotated);
    tokens.push(rotated.token);
    await sessions.listForUser("token-user");
    await store.records.insert("account:ada", { user: "token-user" });

    const dump = await dumpRedis([server.url]);
    for (const token of tokens) {
      assert.equal(
        dump.find((entry) => entry.includes(token)),
        undefined,
        "a token is stored",
      );
    }
    // The positive control: the storage id (SHA-256 of the token) is what the keys hold.
    const id = storageIdOf(rotated.token);
    const sessionKey = keyLayout("lk:").session(id);
    assert.ok(dump.includes(sessionKey));
    assert.ok(dump.includes(keyLayout("lk:").userIndex("token-user")));
    assert.ok(dump.includes("lk:r:account:ada"));
    assert.equal(await raw("TYPE", sessionKey), "hash");
    assert.equal(await raw("TYPE", keyLayout("lk:").userIndex("token-user")), "zset");
  });

  it("stores meta fields as integers in ms, leaves out an empty user agent and IP, and sets TTLs", async () => {
    const sessions = createSessionManager({
      store,
      idleTimeoutSeconds: 600,
      absoluteTimeoutSeconds: 10 * 365 * 86400,
    });
    const { token, session } = await sessions.create("meta-user");
    const key = keyLayout("lk:").session(storageIdOf(token));
    const hash = (await raw("HGETALL", key)) as string[];
    const fields = Object.fromEntries(
      Array.from({ length: hash.length / 2 }, (_, i) => [hash[2 * i], hash[2 * i + 1]]),
    );
    assert.deepEqual(Object.keys(fields).sort(), ["$c", "$e", "$t", "$u"]);
    assert.equal(fields.$e, String(session.expiresAt.getTime()));
    assert.match(fields.$t as string, /^\d{13}$/);
    const ttl = (await raw("PTTL", key)) as number;
    assert.ok(ttl > 590_000 && ttl <= 600_000, `session TTL ${ttl} is the idle timeout`);
    // The index lives as long as its longest-lived session: ten years, written without exponent.
    const indexTTL = (await raw("PTTL", keyLayout("lk:").userIndex("meta-user"))) as number;
    const expected = session.expiresAt.getTime() - Date.now();
    assert.ok(Math.abs(indexTTL - expected) < 5_000, `index TTL ${indexTTL} ~ ${expected}`);
    // A load refreshes $t as an integer string, never in scientific notation.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await sessions.load(token);
    assert.match((await raw("HGET", key, "$t")) as string, /^\d{13}$/);
  });

  it("a load is exactly one Redis command: one EVALSHA, with or without increments", async () => {
    const sessions = createSessionManager({ store, fields: SCHEMA });
    const { token } = await sessions.create("one-command", { data: { visits: 1 } });
    await sessions.load(token); // the script is known to the server from here on
    for (const options of [undefined, { increment: { visits: 2 } }]) {
      // INFO commandstats also counts the commands the script runs inside, so it proves "one EVALSHA"
      // and MONITOR proves "nothing else was sent".
      const before = await redisCommandCalls(server.url);
      const sent = await clientCommandsDuring(server.url, async () =>
        assert.ok(await sessions.load(token, options)),
      );
      const after = await redisCommandCalls(server.url);
      assert.equal((after.evalsha ?? 0) - (before.evalsha ?? 0), 1);
      assert.equal((after.eval ?? 0) - (before.eval ?? 0), 0);
      assert.deepEqual(sent, ["evalsha"]);
    }
  });

  it("a load reads the hash in any field order: a long value makes Redis keep it as a hashtable", async () => {
    // Small hashes keep insertion order (listpack); a value over 64 bytes turns the hash into a hashtable,
    // whose HGETALL order is arbitrary. The load script finds fields by name, so both must read the same.
    const sessions = createSessionManager({ store, fields: SCHEMA });
    const userAgent = "Mozilla/5.0 (any order)";
    const prefs = { theme: "dark", recent: Array.from({ length: 20 }, (_, i) => `page-${i}`) };
    const { token, session } = await sessions.create("any-order", {
      data: { name: "Ada", prefs },
      userAgent,
      ip: "203.0.113.9",
    });
    const key = keyLayout("lk:").session(storageIdOf(token));
    assert.equal(await raw("OBJECT", "ENCODING", key), "hashtable");

    // `visits` is absent at first: the increment appends it to the reply.
    const first = await sessions.load(token, { increment: { visits: 5 } });
    assert.ok(first);
    assert.deepEqual(first.data, { name: "Ada", visits: 5, prefs });
    assert.equal(first.userId, "any-order");
    assert.equal(first.userAgent, userAgent);
    assert.equal(first.ip, "203.0.113.9");
    assert.equal(first.createdAt.getTime(), session.createdAt.getTime());
    assert.equal(first.expiresAt.getTime(), session.expiresAt.getTime());
    assert.ok(first.lastSeenAt.getTime() >= session.lastSeenAt.getTime());

    // Present now: the increment patches it in place.
    const second = await sessions.load(token, { increment: { visits: -2 } });
    assert.deepEqual(second?.data, { name: "Ada", visits: 3, prefs });
    assert.equal(await raw("HGET", key, "visits"), "3");
  });

  it("recovers from a flushed script cache (a restarted server) by sending the script again", async () => {
    const sessions = createSessionManager({ store });
    const { token } = await sessions.create("noscript");
    assert.equal(await raw("SCRIPT", "FLUSH"), "OK");
    assert.ok(await sessions.load(token));
  });

  it("update and increment keep the TTL: they never extend a session", async () => {
    const sessions = createSessionManager({ store, fields: SCHEMA, idleTimeoutSeconds: 60 });
    const { token } = await sessions.create("keep-ttl");
    const key = keyLayout("lk:").session(storageIdOf(token));
    assert.equal(await raw("PEXPIRE", key, "5000"), 1);
    await sessions.set(token, { name: "x" });
    await sessions.unset(token, ["name"]);
    await sessions.increment(token, "visits", 3);
    const ttl = (await raw("PTTL", key)) as number;
    assert.ok(ttl > 0 && ttl <= 5000, `TTL ${ttl} was not extended`);
  });

  it("a write after the hash is gone creates nothing (no resurrection by a slow request)", async () => {
    const sessions = createSessionManager({ store, fields: SCHEMA });
    const { token } = await sessions.create("no-resurrection");
    const key = keyLayout("lk:").session(storageIdOf(token));
    assert.equal(await raw("DEL", key), 1); // as if its TTL ran out
    assert.equal(await sessions.set(token, { name: "ghost" }), false);
    assert.equal(await sessions.increment(token, "visits"), null);
    assert.equal(await raw("EXISTS", key), 0);
  });

  it("rotation moves the hash to the new key, with a fresh idle TTL, and updates the index", async () => {
    const sessions = createSessionManager({ store, idleTimeoutSeconds: 60 });
    const { token } = await sessions.create("rotate-keys");
    const rotated = await sessions.rotate(token);
    assert.ok(rotated);
    assert.equal(await raw("EXISTS", keyLayout("lk:").session(storageIdOf(token))), 0);
    const ttl = (await raw("PTTL", keyLayout("lk:").session(storageIdOf(rotated.token)))) as number;
    assert.ok(ttl > 59_000 && ttl <= 60_000, `TTL ${ttl}`);
    assert.deepEqual(await raw("ZRANGE", keyLayout("lk:").userIndex("rotate-keys"), "0", "-1"), [
      storageIdOf(rotated.token),
    ]);
  });

  it("uses keyPrefix for every key", async () => {
    const prefixed = createRedisStore({ url: server.url, keyPrefix: "app1:" });
    try {
      const sessions = createSessionManager({ store: prefixed });
      const { token } = await sessions.create("prefixed-user");
      await prefixed.records.insert("k", { a: "1" });
      assert.equal(await raw("EXISTS", keyLayout("app1:").session(storageIdOf(token))), 1);
      assert.equal(await raw("EXISTS", keyLayout("app1:").userIndex("prefixed-user")), 1);
      assert.equal(await raw("EXISTS", "app1:r:k"), 1);
      assert.ok((await prefixed.health()).status === "ok");
      assert.equal(await raw("EXISTS", "app1:h:$latchkey-health"), 1, "the health probe's key too");
    } finally {
      await prefixed.close();
    }
  });

  it("uses the database of the URL", async () => {
    const inDb2 = createRedisStore({ url: `${server.url}/2` });
    try {
      await inDb2.records.insert("in-db-2", { a: "1" });
      const [, inDb2Reply] = await respCommands({ host: "127.0.0.1", port: server.port }, [
        ["SELECT", "2"],
        ["EXISTS", "lk:r:in-db-2"],
      ]);
      assert.equal(inDb2Reply, 1);
      assert.equal(await raw("EXISTS", "lk:r:in-db-2"), 0, "not in db 0");
    } finally {
      await inDb2.close();
    }
  });

  it("a login past the per-user cap prunes the ids of idle-expired sessions before ending live ones", async () => {
    const sessions = createSessionManager({ store, idleTimeoutSeconds: 1, maxSessionsPerUser: 40 });
    for (let i = 0; i < 40; i++) await sessions.create("crowded-user");
    assert.equal(Number(await raw("ZCARD", keyLayout("lk:").userIndex("crowded-user"))), 40);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    // All 40 idled out; their ids stay in the index until something prunes (a login over the cap).
    const { token } = await sessions.create("crowded-user");
    assert.equal(Number(await raw("ZCARD", keyLayout("lk:").userIndex("crowded-user"))), 1);
    assert.equal(
      storageIdOf(token),
      await raw("ZRANGE", keyLayout("lk:").userIndex("crowded-user"), "0", "-1").then((ids) => String(ids)),
    );
  });

  it("with userIndex: false, writes no index key, and a login and a logout are one EVALSHA each", async () => {
    const unindexed = createRedisStore({ url: server.url, keyPrefix: "ni:", userIndex: false });
    try {
      const sessions = createSessionManager({ store: unindexed, fields: SCHEMA });
      const before = await redisCommandCalls(server.url);
      const { token } = await sessions.create("unindexed-user", { data: { name: "n" } });
      const after = await redisCommandCalls(server.url);
      const scriptCalls = (calls: Record<string, number>) => (calls.evalsha ?? 0) + (calls.eval ?? 0);
      assert.equal(scriptCalls(after) - scriptCalls(before), 1, "one script call writes the session");
      assert.equal((after.zadd ?? 0) - (before.zadd ?? 0), 0, "no index entry");
      const rotated = await sessions.rotate(token);
      assert.ok(rotated);
      assert.equal(await raw("EXISTS", keyLayout("ni:").session(storageIdOf(rotated.token))), 1);
      const beforeLogout = await redisCommandCalls(server.url);
      assert.equal(await sessions.destroy(rotated.token), true);
      const afterLogout = await redisCommandCalls(server.url);
      assert.equal(scriptCalls(afterLogout) - scriptCalls(beforeLogout), 1, "a logout is one script call");
      assert.deepEqual(await raw("KEYS", "ni:*"), [], "nothing left: no session, no index");
    } finally {
      await unindexed.close();
    }
  });

  it("a login, a logout, a listing and a revocation are one script call each, however many sessions", async () => {
    const sessions = createSessionManager({ store, fields: SCHEMA });
    const tokens: string[] = [];
    for (let i = 0; i < 99; i++) tokens.push((await sessions.create("many-sessions")).token);
    // Every script once, so that the server has them all cached (an EVAL after NOSCRIPT otherwise).
    const warm = await sessions.create("warm-up");
    await sessions.listForUser("warm-up");
    await sessions.destroy(warm.token);
    await sessions.destroyForUser("warm-up");
    const during = async (what: string, call: () => Promise<unknown>) => {
      const sent = await clientCommandsDuring(server.url, call);
      assert.deepEqual(sent, ["evalsha"], `${what}: one script call and no other command`);
    };
    await during("the 100th login", () => sessions.create("many-sessions"));
    await during("a listing of 100 sessions", async () => {
      assert.equal((await sessions.listForUser("many-sessions")).length, 100);
    });
    await during("a logout", () => sessions.destroy(tokens[0] as string));
    await during("log out everywhere", async () => {
      assert.equal(await sessions.destroyForUser("many-sessions"), 99);
    });
  });

  it("on a full Redis (OOM) a login is refused and nothing is written, but views and revocation still work", async () => {
    const sessions = createSessionManager({ store, fields: SCHEMA });
    const { token } = await sessions.create("full-redis", { data: { name: "kept" } });
    const second = await sessions.create("full-redis");
    await raw("CONFIG", "SET", "maxmemory-policy", "noeviction");
    await raw("CONFIG", "SET", "maxmemory", "1");
    try {
      await assert.rejects(
        sessions.create("full-redis"),
        (error: Error) => isStoreUnavailable(error) && /OOM/.test(error.message),
      );
      await assert.rejects(sessions.set(token, { name: "more" }), isStoreUnavailable);
      assert.equal((await sessions.listForUser("full-redis")).length, 2, "the refused login left nothing");
      const viewed = await sessions.load(token, { increment: { visits: 1 } });
      assert.equal(viewed?.data.visits, 1, "a view (refresh and counter) works on a full Redis");
      assert.equal(await sessions.destroy(second.token), true, "a logout works on a full Redis");
      assert.equal(await sessions.destroyForUser("full-redis"), 1, "and so does log out everywhere");
      assert.equal(await sessions.load(token), null);
    } finally {
      await raw("CONFIG", "SET", "maxmemory", "0");
    }
  });

  it("a session whose index entry is gone (evicted, lost in a failover) ends at its next load or rotation", async () => {
    const sessions = createSessionManager({ store, fields: SCHEMA });
    const index = keyLayout("lk:").userIndex("orphaned");
    const first = await sessions.create("orphaned");
    const second = await sessions.create("orphaned");
    const third = await sessions.create("orphaned");
    // One entry gone: that session alone ends, and its hash with it.
    assert.equal(await raw("ZREM", index, storageIdOf(first.token)), 1);
    assert.equal(await sessions.load(first.token), null);
    assert.equal(await raw("EXISTS", keyLayout("lk:").session(storageIdOf(first.token))), 0);
    assert.ok(await sessions.load(second.token), "the others live on");
    // The whole index gone (what volatile-lru may evict): every session of the user ends.
    assert.equal(await raw("DEL", index), 1);
    assert.equal(await sessions.rotate(second.token), null, "not rotated back into a new index");
    assert.equal(await sessions.load(third.token), null);
    assert.deepEqual(await raw("KEYS", `${keyLayout("lk:").sessionPrefix(userTagOf("orphaned"))}*`), []);
  });

  it("an anonymous session is a hash with its own TTL and no user: no index, no revocation marker", async () => {
    const sessions = createSessionManager({ store, fields: SCHEMA, anonymousIdleTimeoutSeconds: 300 });
    const { token } = await sessions.createAnonymous({ data: { name: "guest" } });
    const key = keyLayout("lk:").session(storageIdOf(token));
    const ttl = (await raw("PTTL", key)) as number;
    assert.ok(ttl > 290_000 && ttl <= 300_000, `TTL ${ttl} is the anonymous idle timeout`);
    assert.equal(await raw("HEXISTS", key, "$u"), 0);
    await sessions.load(token);
    const refreshed = (await raw("PTTL", key)) as number;
    assert.ok(
      refreshed > 290_000 && refreshed <= 300_000,
      `a view refreshes it by its own timeout: ${refreshed}`,
    );
    await sessions.flash(token, "notice", "hello");
    assert.equal(await raw("HGET", key, "$f:notice"), "hello");
    assert.deepEqual((await sessions.load(token, { takeFlash: true }))?.flash, { notice: "hello" });
    assert.equal(await raw("HEXISTS", key, "$f:notice"), 0, "taken in the same script");
  });

  it("with a caller's client: works, and close() leaves the client open", async () => {
    const client = new Redis({ port: server.port, lazyConnect: true });
    const borrowed = createRedisStore({ client });
    assert.equal(borrowed.kind, "redis");
    const sessions = createSessionManager({ store: borrowed });
    const { token } = await sessions.create("borrowed");
    assert.ok(await sessions.load(token));
    await borrowed.close();
    assert.equal(await client.ping(), "PONG", "the caller's client is still open");
    await assert.rejects(borrowed.ping(), isStoreUnavailable, "the store itself is closed");
    client.disconnect();
  });

  it("after close(), every call fails with StoreUnavailableError; close() twice is fine", async () => {
    const closing = createRedisStore({ url: server.url });
    await closing.ping();
    await closing.close();
    await closing.close();
    await assert.rejects(closing.ping(), isStoreUnavailable);
    await assert.rejects(closing.records.get("x"), isStoreUnavailable);
    await assert.rejects(
      closing.load("x", { now: Date.now(), idleTimeoutMs: 1000, touchIntervalMs: 0 }),
      (error: Error) => isStoreUnavailable(error) && /closed/.test(error.message),
    );
  });
});
