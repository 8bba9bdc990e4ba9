import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ConnectionOptions } from "node:tls";
import { Cluster } from "ioredis";
import { expectUnavailable as unavailable } from "../../../test/harness/expect-unavailable.js";
import {
  startRedisServer,
  startTLSRedisCluster,
  startTLSRedisServer,
  type TLSRedisClusterHandle,
  type TLSRedisServerHandle,
} from "../../../test/harness/redis-servers.js";
import { createTestCertificates } from "../../../test/harness/redis-tls.js";
import {
  RespError,
  type RespReply,
  type RespTarget,
  respCommand,
} from "../../../test/harness/resp-client.js";
import { createSessionManager } from "../../core/session-manager.js";
import type { SessionStore } from "../../core/session-store.js";
import { storageIdOf } from "../../core/token.js";
import { createRedisStore } from "./index.js";
import { keyLayout } from "./keys.js";

/**
 * TLS as on Amazon ElastiCache with encryption in transit: servers that speak only TLS (`--port 0`),
 * a certificate from a CA the client must be told about, no client certificates, and for a Cluster TLS
 * on the cluster bus too. Certificates are made at test time by the harness (openssl).
 */

const PASSWORD = "s3cret";
/** A least-privilege ACL user, as in availability.test.ts. */
const ACL_USER = ["latchkey", "on", ">app-pass", "~lk:*", "resetchannels", "-@all", "+@read", "+@write"];

describe("redis store over TLS (ElastiCache encryption in transit)", () => {
  let server: TLSRedisServerHandle;
  const cleanups: (() => Promise<void>)[] = [];
  const opened = (options: Parameters<typeof createRedisStore>[0]): SessionStore => {
    const store = createRedisStore(options);
    cleanups.push(() => store.close());
    return store;
  };
  const raw = (...command: string[]): Promise<RespReply> =>
    respCommand(
      { host: "127.0.0.1", port: server.port, password: PASSWORD, tls: { ca: server.caPem } },
      ...command,
    );

  before(async () => {
    server = await startTLSRedisServer({
      args: ["--requirepass", PASSWORD, "--user", ...ACL_USER, "+@scripting", "+@connection", "-@dangerous"],
    });
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await server?.stop();
  });

  it("the test server speaks TLS only: no plain port", async () => {
    assert.equal(server.url, `rediss://127.0.0.1:${server.port}`);
    assert.deepEqual(await raw("CONFIG", "GET", "port"), ["port", "0"]);
    assert.deepEqual(await raw("CONFIG", "GET", "tls-port"), ["tls-port", String(server.port)]);
  });

  it("creates, loads with an increment and destroys a session, with the password in a rediss:// URL", async () => {
    const store = opened({
      url: `rediss://:${PASSWORD}@127.0.0.1:${server.port}`,
      tls: { ca: server.caPem },
    });
    assert.equal(store.kind, "redis");
    const sessions = createSessionManager({ store, fields: { visits: "integer", name: "string" } });
    const { token } = await sessions.create("tls-user", { data: { visits: 1, name: "ada" } });
    const key = keyLayout("lk:").session(storageIdOf(token));
    const loaded = await sessions.load(token, { increment: { visits: 1 } });
    assert.deepEqual(loaded?.data, { visits: 2, name: "ada" });
    assert.equal(await raw("HGET", key, "visits"), "2", "the increment reached the server");
    assert.equal(await sessions.destroy(token), true);
    assert.equal(await sessions.load(token), null);
    assert.equal(await raw("EXISTS", key), 0);
  });

  it("works as an ACL user over TLS, and a wrong password is reported as such", async () => {
    const store = opened({
      url: `rediss://latchkey:app-pass@127.0.0.1:${server.port}`,
      tls: { ca: server.caPem },
    });
    const sessions = createSessionManager({ store, fields: { visits: "integer" } });
    const { token } = await sessions.create("tls-acl-user");
    assert.equal((await sessions.load(token, { increment: { visits: 5 } }))?.data.visits, 5);
    assert.equal(await sessions.destroyForUser("tls-acl-user"), 1);

    const wrong = opened({
      url: `rediss://latchkey:nope@127.0.0.1:${server.port}`,
      tls: { ca: server.caPem },
    });
    const { error, ms } = await unavailable(() => wrong.ping());
    assert.ok(ms < 1500, `took ${ms} ms`);
    assert.match(error.message, /WRONGPASS.*check the user name and password/);
    assert.ok(!error.message.includes("nope"), "the message does not repeat the password");
  });

  it("a client that does not trust the CA fails fast, saying the certificate is not trusted", async () => {
    const dir = await mkdtemp(join(tmpdir(), "latchkey-other-ca-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const otherCA = (await createTestCertificates(dir)).caPem;
    const url = `rediss://:${PASSWORD}@127.0.0.1:${server.port}`;
    // Node's default CAs (what a bare rediss:// URL trusts), and another CA than the one that signed.
    for (const store of [opened({ url }), opened({ url, tls: { ca: otherCA } })]) {
      for (let call = 0; call < 2; call++) {
        const { error, ms } = await unavailable(() => store.ping());
        assert.ok(ms < 1500, `call ${call} took ${ms} ms`);
        assert.match(error.message, /certificate/);
        assert.match(error.message, /not trusted: pass the CA that signed it as tls: \{ ca \}/);
        assert.match(String((error.cause as { code?: string }).code), /CERT|SIGNATURE/);
      }
    }
  });

  it("checks the host name: a certificate for localhost fails at 127.0.0.1 and works at localhost", async () => {
    const named = await startTLSRedisServer({ certificateNames: ["localhost"] });
    cleanups.push(() => named.stop());
    const byIP = opened({ url: named.url, tls: { ca: named.caPem } });
    const { error, ms } = await unavailable(() => byIP.ping());
    assert.ok(ms < 1500, `took ${ms} ms`);
    assert.match(error.message, /does not match certificate's altnames.*host name that the server's TLS/);

    const byName = opened({ url: `rediss://localhost:${named.port}`, tls: { ca: named.caPem } });
    const sessions = createSessionManager({ store: byName });
    const { token } = await sessions.create("by-name");
    assert.ok(await sessions.load(token));
  });

  it("a plain redis:// URL against the TLS port fails within the command timeout and suggests rediss://", async () => {
    const plain = opened({ url: `redis://:${PASSWORD}@127.0.0.1:${server.port}`, commandTimeoutMs: 500 });
    const messages: string[] = [];
    for (let call = 0; call < 3; call++) {
      const { error, ms } = await unavailable(() => plain.ping());
      assert.ok(ms < 1000, `call ${call} took ${ms} ms`);
      messages.push(error.message);
    }
    // The server resets the connection at the first command; later calls may wait for the timeout.
    assert.match(messages[0] as string, /ECONNRESET.*if the server accepts only TLS, use rediss:\/\//);
    for (const message of messages) assert.match(message, /ECONNRESET/);
  });

  it("a rediss:// URL against a plain server fails within the command timeout", async () => {
    const plainServer = await startRedisServer();
    cleanups.push(() => plainServer.stop());
    const store = opened({ url: `rediss://127.0.0.1:${plainServer.port}`, commandTimeoutMs: 500 });
    const { error, ms } = await unavailable(() => store.ping());
    assert.ok(ms < 1000, `took ${ms} ms`);
    // The plain server waits for the end of an inline command that never comes: only a timeout tells.
    assert.match(error.message, /no reply within 500 ms/);
  });
});

describe("redis store on a TLS Redis Cluster", () => {
  let cluster: TLSRedisClusterHandle;
  let store: SessionStore;
  const cleanups: (() => Promise<void>)[] = [];
  const node = (port: number, ...command: string[]): Promise<RespReply> =>
    respCommand({ host: "127.0.0.1", port, tls: { ca: cluster.caPem } }, ...command);
  /** The port of the master that serves `key` now, from CLUSTER SLOTS (read anew: a test moves a slot). */
  const ownerOf = async (key: string): Promise<number> => {
    const seed = cluster.ports[0] as number;
    const slot = (await node(seed, "CLUSTER", "KEYSLOT", key)) as number;
    const ranges = (await node(seed, "CLUSTER", "SLOTS")) as RespReply[][];
    const range = ranges.find(([from, to]) => slot >= (from as number) && slot <= (to as number));
    assert.ok(range, `no master serves slot ${slot}`);
    return (range[2] as RespReply[])[1] as number;
  };
  /** A record name whose key the master on `port` serves. */
  const recordOn = async (port: number, prefix: string): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      if ((await ownerOf(`lk:r:${prefix}-${i}`)) === port) return `${prefix}-${i}`;
    }
    assert.fail(`no key of 100 lands on ${port}`);
  };
  const movedCount = async (port: number): Promise<number> => {
    const info = (await node(port, "INFO", "errorstats")) as string;
    return Number(/errorstat_MOVED:count=(\d+)/.exec(info)?.[1] ?? 0);
  };

  before(async () => {
    cluster = await startTLSRedisCluster();
    // One seed node is enough: the client discovers the others, and must reach them over TLS too.
    store = createRedisStore({
      clusterNodes: [cluster.urls[0] as string],
      tls: { ca: cluster.caPem },
      commandTimeoutMs: 500,
    });
    cleanups.push(() => store.close());
    await store.ping();
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await cluster?.stop();
  });

  it("serves sessions from every master over TLS: create, load with increment, destroy", async () => {
    assert.equal(store.kind, "redis-cluster");
    assert.deepEqual(await node(cluster.ports[1] as number, "CONFIG", "GET", "tls-cluster"), [
      "tls-cluster",
      "yes",
    ]);
    const sessions = createSessionManager({ store, fields: { visits: "integer" } });
    const byUser = new Map<string, string[]>();
    const ports = new Set<number>();
    // A user's sessions live in the slot of the user's tag: create users until every master holds one.
    for (let i = 0; ports.size < cluster.ports.length && i < 60; i++) {
      const userId = `tls-cluster-user-${i}`;
      const tokens = [];
      for (let j = 0; j < 2; j++) tokens.push((await sessions.create(userId, { data: { visits: 1 } })).token);
      byUser.set(userId, tokens);
      for (const token of tokens) {
        const port = await ownerOf(keyLayout("lk:").session(storageIdOf(token)));
        assert.equal(await node(port, "EXISTS", keyLayout("lk:").session(storageIdOf(token))), 1);
        ports.add(port);
      }
    }
    assert.equal(ports.size, cluster.ports.length, "every master holds a session");
    for (const [userId, tokens] of byUser) {
      for (const token of tokens) {
        assert.equal((await sessions.load(token, { increment: { visits: 1 } }))?.data.visits, 2);
      }
      assert.equal((await sessions.listForUser(userId)).length, tokens.length);
      assert.equal(await sessions.destroy(tokens[0] as string), true);
      assert.equal(await sessions.destroyForUser(userId), tokens.length - 1);
      for (const token of tokens) assert.equal(await sessions.load(token), null);
    }
  });

  it("follows a MOVED redirection over TLS to another master", async () => {
    const [seed, from, to] = cluster.ports as [number, number, number];
    const fresh = createRedisStore({
      clusterNodes: [`rediss://127.0.0.1:${seed}`],
      tls: { ca: cluster.caPem },
    });
    cleanups.push(() => fresh.close());
    // Loads the slot map over TLS; ioredis connects to the other masters at their first command.
    assert.equal(await fresh.records.get(await recordOn(seed, "on-seed")), null);

    // Move the (empty) slot of a record from one master to another behind the client's back.
    const name = await recordOn(from, "moving");
    const slot = String(await node(seed, "CLUSTER", "KEYSLOT", `lk:r:${name}`));
    const target = (await node(to, "CLUSTER", "MYID")) as string;
    for (const port of [to, from, seed])
      assert.equal(await node(port, "CLUSTER", "SETSLOT", slot, "NODE", target), "OK");
    const movedBefore = await movedCount(from);

    assert.equal(await fresh.records.insert(name, { via: "moved" }), true);
    assert.equal(await movedCount(from), movedBefore + 1, "the old owner answered MOVED");
    assert.equal(await node(to, "HGET", `lk:r:${name}`, "via"), "moved", "the write landed on the new owner");
    const old = await node(from, "EXISTS", `lk:r:${name}`);
    assert.ok(old instanceof RespError && old.message.startsWith("MOVED"), "the old owner redirects");
    assert.deepEqual(await fresh.records.get(name), { via: "moved" });
  });

  it("a client that does not trust the CA, or uses redis://, fails within the command timeout", async () => {
    const seed = cluster.ports[0] as number;
    for (const options of [
      { clusterNodes: [`rediss://127.0.0.1:${seed}`] },
      { clusterNodes: [`redis://127.0.0.1:${seed}`] },
    ]) {
      const failing = createRedisStore({ ...options, commandTimeoutMs: 500 });
      cleanups.push(() => failing.close());
      const { error, ms } = await unavailable(() => failing.ping());
      assert.ok(ms < 1000, `took ${ms} ms`);
      // ioredis keeps the TLS error to itself here: the hint names what to check.
      assert.match(error.message, /Failed to refresh slots cache.*rediss:\/\/ and tls: \{ ca \}/);
    }
  });
});

describe("redis store on a TLS Cluster that announces host names (ElastiCache with TLS)", () => {
  let cluster: TLSRedisClusterHandle;
  before(async () => {
    // Certificate for the name only, not for 127.0.0.1: every connection must use the name.
    cluster = await startTLSRedisCluster({ certificateNames: ["localhost"], announceHostname: "localhost" });
  });
  after(async () => {
    await cluster?.stop();
  });
  const seedURL = (): string => `rediss://localhost:${cluster.ports[0]}`;

  it("connects to every master by the announced name", async () => {
    const target: RespTarget = {
      host: "127.0.0.1",
      port: cluster.ports[0] as number,
      tls: { ca: cluster.caPem, servername: "localhost" },
    };
    const slots = (await respCommand(target, "CLUSTER", "SLOTS")) as RespReply[][];
    assert.ok(
      slots.every((range) => (range[2] as RespReply[])[0] === "localhost"),
      "CLUSTER SLOTS names hosts",
    );

    const store = createRedisStore({ clusterNodes: [seedURL()], tls: { ca: cluster.caPem } });
    try {
      await store.ping(); // a PING to every master
      const sessions = createSessionManager({ store });
      const { token } = await sessions.create("by-name");
      assert.ok(await sessions.load(token));
      assert.equal(await sessions.destroy(token), true);
    } finally {
      await store.close();
    }
  });

  it("needs the store's dnsLookup: an ioredis Cluster without it resolves the seed and fails the name check", async () => {
    const port = cluster.ports[0] as number;
    const withoutLookup = (tls: ConnectionOptions): Cluster =>
      new Cluster([{ host: "localhost", port }], {
        redisOptions: { tls },
        clusterRetryStrategy: () => null,
        slotsRefreshTimeout: 1000,
      });
    const failing = withoutLookup({ ca: cluster.caPem });
    const tried: string[] = [];
    failing.on("node error", (_error: Error, node: string) => tried.push(node));
    failing.on("error", () => {});
    try {
      await assert.rejects(failing.ping(), /None of startup nodes is available/);
      assert.deepEqual(tried, [`127.0.0.1:${port}`], "ioredis connected to the resolved address");
    } finally {
      failing.disconnect();
    }
    // The control: the same client without the name check works, so the name check is what failed.
    const unchecked = withoutLookup({ ca: cluster.caPem, checkServerIdentity: () => undefined });
    try {
      assert.equal(await unchecked.ping(), "PONG");
    } finally {
      unchecked.disconnect();
    }
  });
});
