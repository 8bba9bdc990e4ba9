import { isIP } from "node:net";
import { InvalidOptionError } from "latchkey";
import { checkRedisStoreOptions, type RedisStoreOptions } from "latchkey/redis";

/**
 * The app's configuration, read once from the environment at start. Every variable is checked; a bad
 * value throws a ConfigError whose message names the variable (and never echoes a Redis password).
 */

export type StoreConfig =
  | { kind: "memory" }
  | { kind: "redis"; url: string; waitForReplicas?: { replicas: number; timeoutMs: number } }
  | { kind: "redis-cluster"; nodes: string[] };

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface Config {
  port: number;
  host: string;
  store: StoreConfig;
  idleTimeoutSeconds: number;
  absoluteTimeoutSeconds: number;
  /** SESSION_REMEMBER_TIMEOUT: the lifetime of a session whose user ticked "Keep me signed in". */
  rememberTimeoutSeconds: number;
  /**
   * SESSION_RENEW_AFTER: a session's token is replaced by a new one once it is this old (0: never), so
   * that a token copied from a log, a proxy or a shared computer stops working while its owner goes on.
   */
  renewAfterSeconds: number;
  /** SESSION_RENEW_GRACE: how long the replaced token still works, for requests already on their way. */
  renewGraceSeconds: number;
  /** Fastify's `trustProxy`: false, true, a hop count, or addresses/CIDR ranges of trusted proxies. */
  trustProxy: boolean | number | string[];
  logLevel: LogLevel;
  /** Bounds on what one connection may hold, so that slow or idle clients cannot exhaust the server. */
  http: HTTPLimits;
  /** METRICS_PORT and METRICS_HOST: the Prometheus listener, apart from the site's; none when unset. */
  metrics?: { port: number; host: string };
  /**
   * HEALTHZ_DETAILS_TOKEN: a request to /healthz with `Authorization: Bearer <this>` gets the store's
   * details (servers, problems); every other request gets the status alone. Unset: status alone for all.
   */
  healthDetailsToken?: string;
}

export interface HTTPLimits {
  /** HTTP_HEADERS_TIMEOUT: a request's headers must arrive within this (a header drip is cut off). */
  headersTimeoutSeconds: number;
  /** HTTP_REQUEST_TIMEOUT: the whole request, body included, must arrive within this. */
  requestTimeoutSeconds: number;
  /** HTTP_KEEP_ALIVE_TIMEOUT: an idle keep-alive connection is closed after this. */
  keepAliveTimeoutSeconds: number;
  /** HTTP_MAX_CONNECTIONS: connections beyond this many open ones are closed at once. */
  maxConnections: number;
  /**
   * HTTP_MAX_CONNECTIONS_PER_CLIENT: a client's (an IPv4 address, an IPv6 /64) connections beyond this
   * many open ones are closed at once, so that one address cannot take the whole HTTP_MAX_CONNECTIONS.
   * 0: no per-client cap. Not applied under TRUST_PROXY, where every connection comes from the proxy.
   */
  maxConnectionsPerClient: number;
}

export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

export const DEFAULT_CONFIG: Config = {
  port: 5000,
  host: "127.0.0.1",
  store: { kind: "memory" },
  idleTimeoutSeconds: 1800,
  absoluteTimeoutSeconds: 604800,
  rememberTimeoutSeconds: 2592000,
  // 15 minutes: a stolen token outlives its renewal by the grace only, at one store round trip per
  // session every 15 minutes; shorter than the idle timeout, so an active session does renew.
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
};

const LOG_LEVELS: readonly string[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
/** Names `proxy-addr` (Fastify's trustProxy) understands besides addresses. */
const PROXY_NAMES: readonly string[] = ["loopback", "linklocal", "uniquelocal"];

/** Reads the configuration from `env` (default `process.env`); throws ConfigError on the first bad value. */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const value = (name: string): string | undefined => {
    const raw = env[name]?.trim();
    return raw === undefined || raw === "" ? undefined : raw;
  };
  const idleTimeoutSeconds = seconds("SESSION_IDLE_TIMEOUT", value("SESSION_IDLE_TIMEOUT"), 1800);
  const absoluteTimeoutSeconds = seconds(
    "SESSION_ABSOLUTE_TIMEOUT",
    value("SESSION_ABSOLUTE_TIMEOUT"),
    604800,
  );
  if (absoluteTimeoutSeconds < idleTimeoutSeconds) {
    throw new ConfigError(
      "SESSION_ABSOLUTE_TIMEOUT",
      `must be at least SESSION_IDLE_TIMEOUT (${idleTimeoutSeconds}), got ${absoluteTimeoutSeconds}`,
    );
  }
  const rememberTimeoutSeconds = seconds(
    "SESSION_REMEMBER_TIMEOUT",
    value("SESSION_REMEMBER_TIMEOUT"),
    DEFAULT_CONFIG.rememberTimeoutSeconds,
  );
  if (rememberTimeoutSeconds < idleTimeoutSeconds) {
    throw new ConfigError(
      "SESSION_REMEMBER_TIMEOUT",
      `must be at least SESSION_IDLE_TIMEOUT (${idleTimeoutSeconds}), got ${rememberTimeoutSeconds}`,
    );
  }
  const { renewAfterSeconds, renewGraceSeconds } = renewal(value);
  const metricsPort = value("METRICS_PORT");
  const metricsHost = value("METRICS_HOST");
  if (metricsHost !== undefined && metricsPort === undefined) {
    throw new ConfigError("METRICS_HOST", "needs METRICS_PORT");
  }
  const config: Config = {
    port: port(value("PORT")),
    host: value("HOST") ?? DEFAULT_CONFIG.host,
    store: store(value),
    idleTimeoutSeconds,
    absoluteTimeoutSeconds,
    rememberTimeoutSeconds,
    renewAfterSeconds,
    renewGraceSeconds,
    trustProxy: trustProxy(value("TRUST_PROXY")),
    logLevel: logLevel(value("LOG_LEVEL")),
    http: httpLimits(value),
    ...healthDetailsToken(value("HEALTHZ_DETAILS_TOKEN")),
  };
  if (metricsPort !== undefined) {
    config.metrics = { port: port(metricsPort, "METRICS_PORT"), host: metricsHost ?? "127.0.0.1" };
  }
  return config;
}

function healthDetailsToken(raw: string | undefined): Pick<Config, "healthDetailsToken"> {
  if (raw === undefined) return {};
  if (raw.length < 16 || /\s/.test(raw)) {
    throw new ConfigError("HEALTHZ_DETAILS_TOKEN", "must be at least 16 characters without spaces");
  }
  return { healthDetailsToken: raw };
}

function httpLimits(value: (name: string) => string | undefined): HTTPLimits {
  const defaults = DEFAULT_CONFIG.http;
  const limits: HTTPLimits = {
    headersTimeoutSeconds: seconds(
      "HTTP_HEADERS_TIMEOUT",
      value("HTTP_HEADERS_TIMEOUT"),
      defaults.headersTimeoutSeconds,
    ),
    requestTimeoutSeconds: seconds(
      "HTTP_REQUEST_TIMEOUT",
      value("HTTP_REQUEST_TIMEOUT"),
      defaults.requestTimeoutSeconds,
    ),
    keepAliveTimeoutSeconds: seconds(
      "HTTP_KEEP_ALIVE_TIMEOUT",
      value("HTTP_KEEP_ALIVE_TIMEOUT"),
      defaults.keepAliveTimeoutSeconds,
    ),
    maxConnections: seconds("HTTP_MAX_CONNECTIONS", value("HTTP_MAX_CONNECTIONS"), defaults.maxConnections),
    maxConnectionsPerClient: count(
      "HTTP_MAX_CONNECTIONS_PER_CLIENT",
      value("HTTP_MAX_CONNECTIONS_PER_CLIENT"),
      defaults.maxConnectionsPerClient,
    ),
  };
  // Node refuses a headers timeout longer than the request timeout (the headers are part of the request).
  if (limits.headersTimeoutSeconds > limits.requestTimeoutSeconds) {
    throw new ConfigError(
      "HTTP_HEADERS_TIMEOUT",
      `must not exceed HTTP_REQUEST_TIMEOUT (${limits.requestTimeoutSeconds}), got ${limits.headersTimeoutSeconds}`,
    );
  }
  return limits;
}

/** A whole number >= 0 (0 turns the bound off). */
function count(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 0)) throw new ConfigError(name, `must be a whole number >= 0, got "${raw}"`);
  return n;
}

function port(raw: string | undefined, name = "PORT"): number {
  if (raw === undefined) return DEFAULT_CONFIG.port;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 0 && n <= 65535)) throw new ConfigError(name, `must be a port number 0-65535, got "${raw}"`);
  return n;
}

/**
 * SESSION_RENEW_AFTER (0 turns renewal off) and SESSION_RENEW_GRACE, which must be shorter: by default
 * 60 s, or less when the renewal period is that short.
 */
function renewal(
  value: (name: string) => string | undefined,
): Pick<Config, "renewAfterSeconds" | "renewGraceSeconds"> {
  const rawAfter = value("SESSION_RENEW_AFTER");
  const renewAfterSeconds =
    rawAfter === "0" ? 0 : seconds("SESSION_RENEW_AFTER", rawAfter, DEFAULT_CONFIG.renewAfterSeconds);
  if (renewAfterSeconds === 1) {
    throw new ConfigError("SESSION_RENEW_AFTER", "must be 0 (off) or at least 2 seconds, got 1");
  }
  const rawGrace = value("SESSION_RENEW_GRACE");
  const fallbackGrace =
    renewAfterSeconds === 0
      ? DEFAULT_CONFIG.renewGraceSeconds
      : Math.min(DEFAULT_CONFIG.renewGraceSeconds, renewAfterSeconds - 1);
  const renewGraceSeconds = seconds("SESSION_RENEW_GRACE", rawGrace, fallbackGrace);
  if (renewAfterSeconds > 0 && renewGraceSeconds >= renewAfterSeconds) {
    throw new ConfigError(
      "SESSION_RENEW_GRACE",
      `must be less than SESSION_RENEW_AFTER (${renewAfterSeconds}), got ${renewGraceSeconds}`,
    );
  }
  return { renewAfterSeconds, renewGraceSeconds };
}

function seconds(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1)) throw new ConfigError(name, `must be a whole number of seconds >= 1, got "${raw}"`);
  return n;
}

function store(value: (name: string) => string | undefined): StoreConfig {
  const url = value("REDIS_URL");
  const clusterURLs = value("REDIS_CLUSTER_URL");
  const waitForReplicas = replicaWait(value("REDIS_WAIT_FOR_REPLICAS"), value("REDIS_WAIT_TIMEOUT_MS"));
  if (url !== undefined && clusterURLs !== undefined) {
    throw new ConfigError("REDIS_URL", "and REDIS_CLUSTER_URL are both set: set one of them");
  }
  if (waitForReplicas !== undefined && url === undefined) {
    throw new ConfigError(
      "REDIS_WAIT_FOR_REPLICAS",
      "needs REDIS_URL (a master with replicas; a Cluster cannot WAIT for each key's master)",
    );
  }
  if (url !== undefined) {
    checkStoreURLs("REDIS_URL", { url });
    return waitForReplicas === undefined ? { kind: "redis", url } : { kind: "redis", url, waitForReplicas };
  }
  if (clusterURLs !== undefined) {
    const nodes = clusterURLs
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part !== "");
    if (nodes.length === 0) throw new ConfigError("REDIS_CLUSTER_URL", "must list at least one node URL");
    checkStoreURLs("REDIS_CLUSTER_URL", { clusterNodes: nodes });
    return { kind: "redis-cluster", nodes };
  }
  return { kind: "memory" };
}

/**
 * REDIS_WAIT_FOR_REPLICAS (1-100) and REDIS_WAIT_TIMEOUT_MS (1-999, default 200: under the store's
 * 1 s command timeout): the store's `waitForReplicas`, so that every acknowledged write is on a replica.
 */
function replicaWait(
  replicasRaw: string | undefined,
  timeoutRaw: string | undefined,
): { replicas: number; timeoutMs: number } | undefined {
  if (replicasRaw === undefined) {
    if (timeoutRaw !== undefined) {
      throw new ConfigError("REDIS_WAIT_TIMEOUT_MS", "needs REDIS_WAIT_FOR_REPLICAS");
    }
    return undefined;
  }
  const replicas = /^\d{1,3}$/.test(replicasRaw) ? Number(replicasRaw) : Number.NaN;
  if (!(replicas >= 1 && replicas <= 100)) {
    throw new ConfigError("REDIS_WAIT_FOR_REPLICAS", `must be a whole number 1-100, got "${replicasRaw}"`);
  }
  if (timeoutRaw === undefined) return { replicas, timeoutMs: 200 };
  const timeoutMs = /^\d{1,3}$/.test(timeoutRaw) ? Number(timeoutRaw) : Number.NaN;
  if (!(timeoutMs >= 1 && timeoutMs <= 999)) {
    throw new ConfigError(
      "REDIS_WAIT_TIMEOUT_MS",
      `must be a whole number of milliseconds 1-999 (under the 1 s command timeout), got "${timeoutRaw}"`,
    );
  }
  return { replicas, timeoutMs };
}

/**
 * Checks the Redis URLs with the store's own parser (`checkRedisStoreOptions`), so that whatever passes
 * here also starts: one rule for both, and the store's message, which never repeats the URL (it may
 * hold a password), names the variable instead of the option.
 */
function checkStoreURLs(name: string, options: RedisStoreOptions): void {
  try {
    checkRedisStoreOptions(options);
  } catch (error) {
    if (error instanceof InvalidOptionError) throw new ConfigError(name, error.problem);
    throw error;
  }
}

function trustProxy(raw: string | undefined): Config["trustProxy"] {
  if (raw === undefined || raw === "false") return false;
  if (raw === "true") return true;
  if (/^\d{1,3}$/.test(raw)) return Number(raw);
  const entries = raw.split(",").map((part) => part.trim());
  for (const entry of entries) {
    const [address, bits, extra] = entry.split("/");
    const okAddress = address !== undefined && (isIP(address) !== 0 || PROXY_NAMES.includes(address));
    const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && isIP(address ?? "") !== 0);
    if (!okAddress || !okBits || extra !== undefined) {
      throw new ConfigError(
        "TRUST_PROXY",
        `must be false, true, a hop count, or a comma-separated list of IP addresses/CIDR ranges; "${entry}" is none of these`,
      );
    }
  }
  return entries;
}

function logLevel(raw: string | undefined): LogLevel {
  if (raw === undefined) return DEFAULT_CONFIG.logLevel;
  if (!LOG_LEVELS.includes(raw)) {
    throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}, got "${raw}"`);
  }
  return raw as LogLevel;
}
