import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, DEFAULT_CONFIG, loadConfig } from "./config.js";

function problem(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  test("defaults", () => {
    assert.deepEqual(loadConfig({}), DEFAULT_CONFIG);
    assert.deepEqual(DEFAULT_CONFIG, {
      port: 5000,
      host: "127.0.0.1",
      store: { kind: "memory" },
      idleTimeoutSeconds: 1800,
      absoluteTimeoutSeconds: 604800,
      rememberTimeoutSeconds: 2592000,
      renewAfterSeconds: 900,
      renewGraceSeconds: 60,
      trustProxy: false,
      logLevel: "info",
      http: {
        headersTimeoutSeconds: 10,
        requestTimeoutSeconds: 30,
        keepAliveTimeoutSeconds: 5,
        maxConnections: 1000,
        maxConnectionsPerClient: 100,
      },
    });
  });

  test("SESSION_RENEW_AFTER: 0 turns renewal off; a short period gets a shorter grace by default", () => {
    assert.equal(loadConfig({ SESSION_RENEW_AFTER: "0" }).renewAfterSeconds, 0);
    const short = loadConfig({ SESSION_RENEW_AFTER: "30" });
    assert.deepEqual([short.renewAfterSeconds, short.renewGraceSeconds], [30, 29]);
  });

  test("reads every variable", () => {
    const config = loadConfig({
      PORT: "8080",
      HOST: "0.0.0.0",
      REDIS_URL: "rediss://app:s3cret@cache.example.com:6380/2",
      SESSION_IDLE_TIMEOUT: "10",
      SESSION_ABSOLUTE_TIMEOUT: "3600",
      SESSION_REMEMBER_TIMEOUT: "86400",
      SESSION_RENEW_AFTER: "300",
      SESSION_RENEW_GRACE: "20",
      TRUST_PROXY: "10.0.0.0/8, 127.0.0.1",
      LOG_LEVEL: "debug",
      HTTP_HEADERS_TIMEOUT: "5",
      HTTP_REQUEST_TIMEOUT: "20",
      HTTP_KEEP_ALIVE_TIMEOUT: "65",
      HTTP_MAX_CONNECTIONS: "200",
      HTTP_MAX_CONNECTIONS_PER_CLIENT: "0",
      HEALTHZ_DETAILS_TOKEN: "0123456789abcdef0123",
    });
    assert.deepEqual(config, {
      port: 8080,
      host: "0.0.0.0",
      store: { kind: "redis", url: "rediss://app:s3cret@cache.example.com:6380/2" },
      idleTimeoutSeconds: 10,
      absoluteTimeoutSeconds: 3600,
      rememberTimeoutSeconds: 86400,
      renewAfterSeconds: 300,
      renewGraceSeconds: 20,
      trustProxy: ["10.0.0.0/8", "127.0.0.1"],
      logLevel: "debug",
      http: {
        headersTimeoutSeconds: 5,
        requestTimeoutSeconds: 20,
        keepAliveTimeoutSeconds: 65,
        maxConnections: 200,
        maxConnectionsPerClient: 0,
      },
      healthDetailsToken: "0123456789abcdef0123",
    });
    const cluster = loadConfig({ REDIS_CLUSTER_URL: "redis://a:7000, redis://b:7001" });
    assert.deepEqual(cluster.store, { kind: "redis-cluster", nodes: ["redis://a:7000", "redis://b:7001"] });
    assert.deepEqual(loadConfig({ REDIS_URL: "redis://h:6379", REDIS_WAIT_FOR_REPLICAS: "2" }).store, {
      kind: "redis",
      url: "redis://h:6379",
      waitForReplicas: { replicas: 2, timeoutMs: 200 },
    });
    assert.deepEqual(
      loadConfig({ REDIS_URL: "redis://h:6379", REDIS_WAIT_FOR_REPLICAS: "1", REDIS_WAIT_TIMEOUT_MS: "500" })
        .store,
      { kind: "redis", url: "redis://h:6379", waitForReplicas: { replicas: 1, timeoutMs: 500 } },
    );
    assert.equal(loadConfig({ TRUST_PROXY: "true" }).trustProxy, true);
    assert.equal(loadConfig({ TRUST_PROXY: "2" }).trustProxy, 2);
    assert.deepEqual(loadConfig({ TRUST_PROXY: "loopback" }).trustProxy, ["loopback"]);
    assert.equal(loadConfig({ PORT: "" }).port, 5000, "an empty variable is unset");
  });

  test("METRICS_PORT and METRICS_HOST: a metrics listener of its own, on 127.0.0.1 by default", () => {
    assert.equal(loadConfig({}).metrics, undefined);
    assert.deepEqual(loadConfig({ METRICS_PORT: "9464" }).metrics, { port: 9464, host: "127.0.0.1" });
    assert.deepEqual(loadConfig({ METRICS_PORT: "0", METRICS_HOST: "0.0.0.0" }).metrics, {
      port: 0,
      host: "0.0.0.0",
    });
    assert.equal(problem({ METRICS_PORT: "prom" }).variable, "METRICS_PORT");
    assert.equal(problem({ METRICS_HOST: "0.0.0.0" }).variable, "METRICS_HOST");
  });

  test("a bad value names its variable", () => {
    const cases: [Record<string, string>, string][] = [
      [{ PORT: "http" }, "PORT"],
      [{ PORT: "70000" }, "PORT"],
      [{ PORT: "-1" }, "PORT"],
      [{ REDIS_URL: "localhost:6379" }, "REDIS_URL"],
      [{ REDIS_URL: "http://localhost:6379" }, "REDIS_URL"],
      [{ REDIS_URL: "redis://localhost:6379", REDIS_CLUSTER_URL: "redis://localhost:7000" }, "REDIS_URL"],
      [{ REDIS_CLUSTER_URL: "redis://a:7000,nope" }, "REDIS_CLUSTER_URL"],
      [{ REDIS_CLUSTER_URL: " , " }, "REDIS_CLUSTER_URL"],
      // Both passed the app's own check once and then crashed the store at start: one parser now.
      [{ REDIS_CLUSTER_URL: "redis://h:7000/1" }, "REDIS_CLUSTER_URL"],
      [{ REDIS_URL: "redis://h/?x=1" }, "REDIS_URL"],
      [{ REDIS_URL: "redis://user@h:6379" }, "REDIS_URL"],
      [{ REDIS_CLUSTER_URL: "redis://a:7000,rediss://b:7001" }, "REDIS_CLUSTER_URL"],
      [{ REDIS_URL: "redis://h:6379", REDIS_WAIT_FOR_REPLICAS: "0" }, "REDIS_WAIT_FOR_REPLICAS"],
      [{ REDIS_URL: "redis://h:6379", REDIS_WAIT_FOR_REPLICAS: "one" }, "REDIS_WAIT_FOR_REPLICAS"],
      [{ REDIS_WAIT_FOR_REPLICAS: "1" }, "REDIS_WAIT_FOR_REPLICAS"],
      [{ REDIS_CLUSTER_URL: "redis://a:7000", REDIS_WAIT_FOR_REPLICAS: "1" }, "REDIS_WAIT_FOR_REPLICAS"],
      [{ REDIS_URL: "redis://h:6379", REDIS_WAIT_TIMEOUT_MS: "200" }, "REDIS_WAIT_TIMEOUT_MS"],
      [
        { REDIS_URL: "redis://h:6379", REDIS_WAIT_FOR_REPLICAS: "1", REDIS_WAIT_TIMEOUT_MS: "1000" },
        "REDIS_WAIT_TIMEOUT_MS",
      ],
      [{ SESSION_IDLE_TIMEOUT: "0" }, "SESSION_IDLE_TIMEOUT"],
      [{ SESSION_IDLE_TIMEOUT: "1.5" }, "SESSION_IDLE_TIMEOUT"],
      [{ SESSION_IDLE_TIMEOUT: "ten" }, "SESSION_IDLE_TIMEOUT"],
      [{ SESSION_ABSOLUTE_TIMEOUT: "60", SESSION_IDLE_TIMEOUT: "120" }, "SESSION_ABSOLUTE_TIMEOUT"],
      [{ SESSION_REMEMBER_TIMEOUT: "0.5" }, "SESSION_REMEMBER_TIMEOUT"],
      [
        { SESSION_REMEMBER_TIMEOUT: "60", SESSION_IDLE_TIMEOUT: "120", SESSION_ABSOLUTE_TIMEOUT: "600" },
        "SESSION_REMEMBER_TIMEOUT",
      ],
      [{ SESSION_RENEW_AFTER: "-5" }, "SESSION_RENEW_AFTER"],
      [{ SESSION_RENEW_AFTER: "1" }, "SESSION_RENEW_AFTER"],
      [{ SESSION_RENEW_GRACE: "0" }, "SESSION_RENEW_GRACE"],
      [{ SESSION_RENEW_AFTER: "120", SESSION_RENEW_GRACE: "120" }, "SESSION_RENEW_GRACE"],
      [{ TRUST_PROXY: "yes" }, "TRUST_PROXY"],
      [{ TRUST_PROXY: "10.0.0.1/8/2" }, "TRUST_PROXY"],
      [{ LOG_LEVEL: "verbose" }, "LOG_LEVEL"],
      [{ HTTP_HEADERS_TIMEOUT: "0" }, "HTTP_HEADERS_TIMEOUT"],
      [{ HTTP_HEADERS_TIMEOUT: "60", HTTP_REQUEST_TIMEOUT: "30" }, "HTTP_HEADERS_TIMEOUT"],
      [{ HTTP_KEEP_ALIVE_TIMEOUT: "5s" }, "HTTP_KEEP_ALIVE_TIMEOUT"],
      [{ HTTP_MAX_CONNECTIONS: "-1" }, "HTTP_MAX_CONNECTIONS"],
      [{ HTTP_MAX_CONNECTIONS_PER_CLIENT: "x" }, "HTTP_MAX_CONNECTIONS_PER_CLIENT"],
      [{ HEALTHZ_DETAILS_TOKEN: "short" }, "HEALTHZ_DETAILS_TOKEN"],
    ];
    for (const [env, variable] of cases) {
      const error = problem(env);
      assert.equal(error.variable, variable, JSON.stringify(env));
      assert.ok(error.message.startsWith(variable), error.message);
      assert.ok(!error.message.includes("\n"), "one line");
    }
  });

  test("Redis URL errors never repeat the password", () => {
    for (const url of [
      "redis://user:hunter22@host:6379/not-a-db",
      "http://user:hunter22@host",
      "redis://:hunter22@",
    ]) {
      assert.doesNotMatch(problem({ REDIS_URL: url }).message, /hunter22/);
    }
  });
});
