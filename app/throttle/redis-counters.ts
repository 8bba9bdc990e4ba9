import type { ConnectionOptions } from "node:tls";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { InvalidOptionError, StoreUnavailableError } from "latchkey";
import { checkWindow, type ThrottleCounters } from "./counters.js";

/**
 * Adds one hit and starts the window with the first: INCR, then PEXPIRE when the key has no TTL, in
 * one script, so that a counter is never left without one (a reply lost between two commands would
 * leave a counter that never ends, a lockout for ever). PTTL -1 also repairs a counter that lost its
 * TTL some other way. Later hits keep the window (fixed, not sliding). Returns the count.
 */
export const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
`;

/**
 * Takes one hit back: DECR only while the count is above zero, so that a refund neither creates a
 * counter (one without a TTL would never end) nor takes it below zero. DECR keeps the TTL. Returns the
 * count left.
 */
export const REFUND_SCRIPT = `
local count = tonumber(redis.call('GET', KEYS[1]))
if not count or count <= 0 then return 0 end
return redis.call('DECR', KEYS[1])
`;

/**
 * What every key starts with. latchkey's own keys are `lk:` and one letter (`lk:s:`, `lk:u:`, `lk:r:`
 * ...: its keys.ts), so `lk:throttle:` cannot collide with them, and a `SCAN lk:throttle:*` finds the
 * throttle's keys alone.
 */
export const DEFAULT_KEY_PREFIX = "lk:throttle:";

export interface RedisCountersOptions {
  /** One Redis server: `redis://[user:password@]host[:port][/db]` or `rediss://` (REDIS_URL). */
  url?: string;
  /** Seed nodes of a Redis Cluster, URLs as `url` without a database (REDIS_CLUSTER_URL). */
  clusterNodes?: readonly string[];
  /** TLS options for every connection (`{ ca }`); a `rediss://` URL turns TLS on with Node's defaults. */
  tls?: ConnectionOptions;
  /** Put before every key. Default `lk:throttle:`. No braces: the throttle's keys choose the hash tag. */
  keyPrefix?: string;
  /** Longest wait for any one reply before StoreUnavailableError. Default 1000, as latchkey's store. */
  commandTimeoutMs?: number;
  /** Longest wait for a connection to be set up. Default 3000. */
  connectTimeoutMs?: number;
  /** Connection errors while ioredis reconnects in the background (for logging). */
  onError?: (error: Error) => void;
}

export interface RedisCounters extends ThrottleCounters {
  /** Resolves when Redis (on a Cluster: one of its nodes) answers a PING, else throws StoreUnavailableError. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Reconnect backoff, as latchkey's store: 50 ms, 100 ms, ... at most 2 s between attempts, forever. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 2000);
const QUIT_TIMEOUT_MS = 1000;
/** ioredis statuses in which a command cannot be sent: the call fails at once instead. */
const OFFLINE_STATUSES: ReadonlySet<string> = new Set(["reconnecting", "close", "end", "disconnecting"]);

/** The scripts as ioredis defines them (`defineCommand`): each call is an EVALSHA, EVAL on NOSCRIPT. */
interface ScriptCommands {
  latchkeyAppThrottleHit(key: string, windowMs: number): Promise<number>;
  latchkeyAppThrottleRefund(key: string): Promise<number>;
}

/**
 * The counters on Redis, over a connection of their own (ioredis `Redis` or `Cluster`), not the
 * session store's: latchkey's store no longer counts, and its client is its own. Keys are
 * `<keyPrefix><the throttle's key>`, strings with a TTL (the window).
 *
 * The connection is set up, as latchkey's store sets up its own, so that no call can hang:
 * - `commandTimeout`, and a guard timer a little after it on every call (an ioredis Cluster queues
 *   commands while it has no slot map, beyond its commandTimeout);
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: a command whose connection
 *   dropped fails and is never sent again (a replayed INCR would count twice);
 * - while the connection is known to be down (ioredis "reconnecting"), calls fail at once without
 *   being queued. The offline queue is on only so that calls made while the first connection is
 *   being set up wait for it (bounded by the timeout) rather than failing at start.
 * Every failure is a StoreUnavailableError, so the app answers 503 as for any store outage.
 */
export function createRedisCounters(options: RedisCountersOptions): RedisCounters {
  const {
    keyPrefix = DEFAULT_KEY_PREFIX,
    commandTimeoutMs = 1000,
    connectTimeoutMs = 3000,
    onError,
  } = options;
  if (typeof keyPrefix !== "string" || /[{}]/.test(keyPrefix)) {
    throw new InvalidOptionError(
      "keyPrefix",
      "must be a string without braces (the keys carry the hash tag)",
    );
  }
  requireMilliseconds("commandTimeoutMs", commandTimeoutMs);
  requireMilliseconds("connectTimeoutMs", connectTimeoutMs);
  const client = connect(options, { commandTimeoutMs, connectTimeoutMs });
  const commands = client as unknown as ScriptCommands;
  client.defineCommand("latchkeyAppThrottleHit", { numberOfKeys: 1, lua: HIT_SCRIPT });
  client.defineCommand("latchkeyAppThrottleRefund", { numberOfKeys: 1, lua: REFUND_SCRIPT });

  let lastError: Error | undefined;
  const recordError = (error: Error): void => {
    lastError = error;
    onError?.(error);
  };
  // Without a listener ioredis prints every connection error; calls report them instead.
  client.on("error", recordError);
  if (client instanceof Cluster) client.on("node error", recordError);
  client.on("ready", () => {
    lastError = undefined;
  });

  let closed = false;
  const kind = client instanceof Cluster ? "Redis Cluster" : "Redis";

  const unavailable = (operation: string, problem: string, cause?: unknown): StoreUnavailableError => {
    const last =
      lastError && !problem.includes(lastError.message)
        ? `; last connection error: ${lastError.message}`
        : "";
    const text = `${problem}${last}`;
    const meaning = MEANINGS.find(([pattern]) => pattern.test(text))?.[1];
    return new StoreUnavailableError(
      `latchkey app: ${kind} throttle counters: ${operation} failed: ${meaning ? `${meaning}: ` : ""}${text}`,
      { cause: cause ?? lastError ?? new Error(problem) },
    );
  };

  /** Runs one round trip: at once refused while offline, bounded in time, failures translated. */
  const run = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    if (closed) throw unavailable(operation, "the counters are closed");
    if (OFFLINE_STATUSES.has(client.status)) {
      throw unavailable(operation, `not connected (ioredis status "${client.status}")`);
    }
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no reply within ${commandTimeoutMs} ms`)),
        commandTimeoutMs + 20,
      );
    });
    try {
      return await Promise.race([call(), guard]);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // ioredis's own commandTimeout says only this.
      const problem = message === "Command timed out" ? `no reply within ${commandTimeoutMs} ms` : message;
      throw unavailable(operation, problem, error);
    } finally {
      clearTimeout(timer);
    }
  };

  const keyOf = (key: string) => keyPrefix + key;

  return {
    async hit(key, windowMs) {
      checkWindow(windowMs);
      // PEXPIRE takes whole milliseconds, at least one.
      const window = Math.max(1, Math.ceil(windowMs));
      return run("hit", () => commands.latchkeyAppThrottleHit(keyOf(key), window));
    },

    async hits(key) {
      const count = await run("hits", () => client.get(keyOf(key)));
      return count === null ? 0 : Number(count);
    },

    refund: (key) => run("refund", () => commands.latchkeyAppThrottleRefund(keyOf(key))),

    async delete(key) {
      await run("delete", () => client.del(keyOf(key)));
    },

    async ping() {
      await run("ping", () => client.ping());
    },

    async close() {
      if (closed) return;
      closed = true;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.quit().catch(() => undefined),
        new Promise((resolve) => {
          timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
      client.disconnect();
    },
  };
}

/**
 * What a refusal or a socket error means, put before Redis's own text: the app's 503 page picks its
 * words from these (error-pages.ts: "out of memory", "loading", failover), as for the store's errors.
 */
const MEANINGS: readonly [RegExp, string][] = [
  [/\bOOM command not allowed/, "Redis is out of memory (maxmemory reached): it refuses writes"],
  [/\bLOADING\b/, "Redis is loading its dataset (after a restart); it answers once loaded"],
  [/\bCLUSTERDOWN\b/, "the Cluster is down (CLUSTERDOWN): a master failed or is failing over"],
  [/\bTRYAGAIN\b/, "a Cluster master is failing over or a slot is moving (TRYAGAIN)"],
  [/\bMASTERDOWN\b/, "the replica lost its master (MASTERDOWN): a failover is under way"],
  [/\bREADONLY\b/, "the server is a read-only replica (READONLY): a failover is under way"],
  [/ECONNREFUSED/, "connection refused (Redis is not running there, or is restarting)"],
  [/^not connected \(ioredis status "reconnecting"\)$/, "the connection is down; reconnecting"],
];

interface Timeouts {
  commandTimeoutMs: number;
  connectTimeoutMs: number;
}

/** Opens the ioredis client the options name (exactly one of `url` and `clusterNodes`). */
function connect(options: RedisCountersOptions, timeouts: Timeouts): Redis | Cluster {
  const { url, clusterNodes, tls } = options;
  if ((url === undefined) === (clusterNodes === undefined)) {
    throw new InvalidOptionError("url", "or clusterNodes: give exactly one");
  }
  const common: RedisOptions = {
    connectTimeout: timeouts.connectTimeoutMs,
    commandTimeout: timeouts.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: true,
    // No INFO on connect: an ACL user needs no @dangerous commands.
    enableReadyCheck: false,
  };
  if (url !== undefined) {
    const server = parseURL("url", url);
    const secure = tls ?? (server.secure ? {} : undefined);
    return new Redis({
      ...common,
      host: server.host,
      port: server.port,
      ...server.credentials,
      db: server.db,
      retryStrategy: reconnectDelay,
      ...(secure ? { tls: secure } : {}),
    });
  }
  const seeds = (clusterNodes ?? []).map((node) => parseURL("clusterNodes", node));
  const first = seeds[0];
  if (first === undefined) throw new InvalidOptionError("clusterNodes", "must list at least one node URL");
  const secure = tls ?? (first.secure ? {} : undefined);
  const clusterOptions: ClusterOptions = {
    redisOptions: { ...common, ...first.credentials, ...(secure ? { tls: secure } : {}) },
    enableOfflineQueue: true,
    clusterRetryStrategy: reconnectDelay,
    clusterNodeRetryStrategy: reconnectDelay,
    // Nothing is resent after a failover or CLUSTERDOWN (a resent INCR may count twice); MOVED and
    // ASK, refused before running, are still followed.
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    slotsRefreshTimeout: timeouts.connectTimeoutMs,
    // The names the nodes announce, as they are: resolving them first breaks TLS name checks.
    dnsLookup: (address, callback) => callback(null, address),
  };
  return new Cluster(
    seeds.map(({ host, port }) => ({ host, port })),
    clusterOptions,
  );
}

interface ParsedURL {
  host: string;
  port: number;
  credentials: { username?: string; password?: string };
  db: number;
  secure: boolean;
}

/**
 * A redis:// URL taken apart (the app's config has already checked it with latchkey's parser).
 * Messages never repeat the URL: it may hold a password.
 */
function parseURL(option: string, value: string): ParsedURL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidOptionError(option, "is not a valid redis:// URL");
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new InvalidOptionError(option, "must start with redis:// or rediss://");
  }
  const credentials: ParsedURL["credentials"] = {};
  if (url.username) credentials.username = decodeURIComponent(url.username);
  if (url.password) credentials.password = decodeURIComponent(url.password);
  const db = url.pathname.replace(/^\//, "");
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : 6379,
    credentials,
    db: db === "" ? 0 : Number(db),
    secure: url.protocol === "rediss:",
  };
}

function requireMilliseconds(option: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 60_000) {
    throw new InvalidOptionError(
      option,
      `must be a whole number of milliseconds 1-60000, got ${String(value)}`,
    );
  }
}
