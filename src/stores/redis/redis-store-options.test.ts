import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { InvalidOptionError } from "../../core/errors.js";
import { createRedisStore, type RedisStoreOptions } from "./index.js";
import { resolveRedisStoreOptions } from "./redis-store-options.js";

/** Asserts that the options are refused at construction, naming `option`, with a message matching `pattern`. */
function refuses(options: unknown, option: string, pattern: RegExp): void {
  assert.throws(
    () => createRedisStore(options as RedisStoreOptions),
    (error: unknown) => {
      assert.ok(error instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(error)}`);
      assert.equal(error.code, "INVALID_OPTION");
      assert.equal(error.option, option);
      assert.match(error.message, new RegExp(`option "${option.replace(/[[\]]/g, "\\$&")}"`));
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe("createRedisStore options", () => {
  it("requires exactly one of url, clusterNodes, sentinels or client", () => {
    refuses({}, "url", /exactly one of url, clusterNodes, sentinels or client/);
    refuses(undefined, "options", /must be an object/);
    refuses({ url: "redis://a", clusterNodes: ["redis://b"] }, "clusterNodes", /cannot be combined with url/);
    refuses(
      { url: "redis://a", client: new Redis({ lazyConnect: true }) },
      "client",
      /cannot be combined with url/,
    );
  });

  it("names an unknown option, such as a misspelt timeout", () => {
    refuses(
      { url: "redis://a", commandTimeout: 5 },
      "commandTimeout",
      /is not an option of createRedisStore/,
    );
  });

  it("checks the URL without ever repeating it (it may hold a password)", () => {
    refuses(
      { url: "http://user:hunter2@host" },
      "url",
      /must start with redis:\/\/ or rediss:\/\/, not http:\/\//,
    );
    refuses({ url: "not a url" }, "url", /not a valid URL/);
    refuses({ url: "" }, "url", /must be a URL string/);
    refuses({ url: "redis://:hunter2@host/abc" }, "url", /database path that is not a whole number/);
    refuses({ url: "redis://:hunter2@host?tls=1" }, "url", /must not have a \?query/);
    refuses({ url: "redis://user@host" }, "url", /user name but no password/);
    for (const url of ["http://user:hunter2@host", "redis://:hunter2@host/abc", "redis://:hunter2@host?x"]) {
      assert.throws(
        () => createRedisStore({ url }),
        (error: Error) => !error.message.includes("hunter2"),
      );
    }
  });

  it("takes a URL apart: host, port, database, ACL credentials (percent-decoded), TLS", () => {
    const plain = resolveRedisStoreOptions({ url: "redis://cache.internal" });
    assert.deepEqual(plain.mode === "standalone" && [plain.node, plain.db, plain.credentials, plain.tls], [
      { host: "cache.internal", port: 6379 },
      0,
      {},
      undefined,
    ]);
    const full = resolveRedisStoreOptions({ url: "rediss://app%40corp:p%3Ass@[::1]:6380/3" });
    assert.deepEqual(full.mode === "standalone" && [full.node, full.db, full.credentials, full.tls], [
      { host: "::1", port: 6380 },
      3,
      { username: "app@corp", password: "p:ss" },
      {},
    ]);
    const ca = "-----BEGIN CERTIFICATE-----";
    const custom = resolveRedisStoreOptions({ url: "redis://h", tls: { ca } });
    assert.deepEqual(custom.mode === "standalone" && custom.tls, { ca });
  });

  it("checks cluster seed nodes", () => {
    refuses({ clusterNodes: [] }, "clusterNodes", /non-empty array/);
    refuses({ clusterNodes: "redis://a" }, "clusterNodes", /non-empty array/);
    refuses({ clusterNodes: ["redis://a", "ftp://b"] }, "clusterNodes[1]", /redis:\/\/ or rediss:\/\//);
    refuses({ clusterNodes: ["redis://a/2"] }, "clusterNodes[0]", /only database 0/);
    refuses(
      { clusterNodes: ["rediss://a", "redis://b"] },
      "clusterNodes[1]",
      /mixes redis:\/\/ and rediss:\/\//,
    );
    refuses({ clusterNodes: ["redis://:x@a", "redis://:y@b"] }, "clusterNodes[1]", /other credentials/);
    const resolved = resolveRedisStoreOptions({
      clusterNodes: ["rediss://u:p@cfg.example.com:6379", "rediss://u:p@10.0.0.2:6380"],
    });
    assert.equal(resolved.mode, "cluster");
    assert.deepEqual(resolved.mode === "cluster" && [resolved.nodes, resolved.credentials, resolved.tls], [
      [
        { host: "cfg.example.com", port: 6379 },
        { host: "10.0.0.2", port: 6380 },
      ],
      { username: "u", password: "p" },
      {},
    ]);
  });

  it("checks sentinels", () => {
    refuses({ sentinels: [] }, "sentinels", /non-empty array/);
    refuses(
      { sentinels: [{ host: "s", port: 0 }], sentinelName: "m" },
      "sentinels[0]",
      /host: string, port: 1-65535/,
    );
    refuses({ sentinels: [{ host: "s", port: 26379 }] }, "sentinelName", /is required with sentinels/);
    refuses({ url: "redis://a", sentinelName: "m" }, "sentinelName", /only for sentinels/);
    refuses({ url: "redis://a", password: "p" }, "password", /credentials and the database go in the URL/);
    refuses(
      { sentinels: [{ host: "s", port: 26379 }], sentinelName: "m", db: -1 },
      "db",
      /whole number >= 0/,
    );
    const resolved = resolveRedisStoreOptions({
      sentinels: [{ host: "s", port: 26379 }],
      sentinelName: "mymaster",
      password: "p",
    });
    assert.equal(resolved.mode, "sentinel");
  });

  it("checks key prefix, timeouts, tls, onError and client", () => {
    refuses(
      { url: "redis://a", keyPrefix: "has space" },
      "keyPrefix",
      /printable ASCII characters without spaces/,
    );
    refuses({ url: "redis://a", keyPrefix: "x".repeat(65) }, "keyPrefix", /at most 64/);
    refuses({ url: "redis://a", userIndex: "no" }, "userIndex", /true or false, got "no"/);
    refuses({ url: "redis://a", commandTimeoutMs: 0 }, "commandTimeoutMs", /from 1 to 60000, got 0/);
    refuses({ url: "redis://a", commandTimeoutMs: 60_001 }, "commandTimeoutMs", /from 1 to 60000/);
    refuses({ url: "redis://a", commandTimeoutMs: 1.5 }, "commandTimeoutMs", /whole number/);
    refuses({ url: "redis://a", connectTimeoutMs: "1000" }, "connectTimeoutMs", /whole number/);
    refuses({ url: "redis://a", tls: true }, "tls", /must be an object/);
    refuses({ url: "redis://a", onError: "log" }, "onError", /must be a function/);
    refuses({ client: {} }, "client", /ioredis Redis or Cluster/);
    const client = new Redis({ lazyConnect: true });
    refuses({ client, tls: {} }, "tls", /configure TLS on your client/);
    refuses({ client, connectTimeoutMs: 5 }, "connectTimeoutMs", /set connectTimeout on your client/);
    client.disconnect();
  });

  it("checks waitForReplicas: whole replicas and a timeout under commandTimeoutMs, not on a Cluster", () => {
    const url = "redis://127.0.0.1:1";
    for (const bad of [
      {},
      { replicas: 0, timeoutMs: 100 },
      { replicas: 1, timeoutMs: 1000 },
      { replicas: 1.5, timeoutMs: 10 },
      1,
    ]) {
      refuses({ url, waitForReplicas: bad }, "waitForReplicas", /replicas: 1-100, timeoutMs: 1-999/);
    }
    refuses(
      { clusterNodes: [url], waitForReplicas: { replicas: 1, timeoutMs: 100 } },
      "waitForReplicas",
      /not supported on a Cluster/,
    );
    assert.deepEqual(
      resolveRedisStoreOptions({
        url,
        commandTimeoutMs: 2000,
        waitForReplicas: { replicas: 2, timeoutMs: 1500 },
      }).waitForReplicas,
      { replicas: 2, timeoutMs: 1500 },
    );
  });

  it("fills in the defaults", () => {
    const resolved = resolveRedisStoreOptions({ url: "redis://a" });
    assert.equal(resolved.keyPrefix, "lk:");
    assert.equal(resolved.userIndex, true);
    assert.equal(resolved.commandTimeoutMs, 1000);
    assert.equal(resolved.connectTimeoutMs, 3000);
    assert.equal(resolveRedisStoreOptions({ url: "redis://a", keyPrefix: "" }).keyPrefix, "");
  });
});
