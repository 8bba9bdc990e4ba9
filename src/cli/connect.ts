import { createRequire } from "node:module";
import type { Cluster, Redis, RedisOptions } from "ioredis";
import type { NodeRedisClient, NodeRedisCluster } from "../stores/redis/node-redis-driver.js";
import { createRedisStore, type RedisStore } from "../stores/redis/redis-store.js";
import { type Credentials, type NodeAddress, parseRedisURL } from "../stores/redis/redis-url.js";

/** Where the command connects: one server, a Cluster's seed nodes, or Sentinels. */
export type Target =
  | { kind: "url"; url: string }
  | { kind: "cluster"; nodes: string[] }
  | { kind: "sentinels"; sentinels: NodeAddress[]; name: string; credentials: Credentials; db: number };

/** A failure the command reports in one line on stderr, with exit status 1. */
export class CommandError extends Error {}

/** An open connection: the store over it, and a walk over every master's keys (SCAN). */
export interface Connection {
  readonly store: RedisStore;
  /** How many masters `scan` walks. */
  readonly masters: number;
  /** SCANs every master for keys matching `pattern`, calling `onKeys` with each step's count. */
  scan(pattern: string, onKeys: (count: number, master: number) => void): Promise<void>;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
/** Keys per SCAN step: Redis does about this much work per call, never a blocking walk. */
const SCAN_COUNT = "1000";

function optional<T>(name: string): T | undefined {
  try {
    return require(name) as T;
  } catch (error) {
    if ((error as { code?: unknown }).code === "MODULE_NOT_FOUND") return undefined;
    throw error;
  }
}

/**
 * Connects with ioredis when it is installed, else node-redis (`library` picks one: "ioredis" or
 * "redis", from LATCHKEY_REDIS_CLIENT); bounded by `timeoutMs`.
 */
export async function connect(
  target: Target,
  keyPrefix: string,
  timeoutMs: number,
  library?: string,
): Promise<Connection> {
  const ioredis = library === "redis" ? undefined : optional<typeof import("ioredis")>("ioredis");
  if (ioredis) return connectIORedis(ioredis, target, keyPrefix, timeoutMs);
  const nodeRedis = library === "ioredis" ? undefined : optional<typeof import("redis")>("redis");
  if (nodeRedis) return connectNodeRedis(nodeRedis, target, keyPrefix, timeoutMs);
  const wanted = library === "ioredis" || library === "redis" ? library : "ioredis (or redis)";
  throw new CommandError(`latchkey needs a Redis client: npm install ${wanted}`);
}

async function within<T>(timeoutMs: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CommandError(`${what}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(target: Target): string {
  if (target.kind === "url") {
    const { node } = parseRedisURL("--redis-url", target.url);
    return `Redis at ${node.host}:${node.port}`;
  }
  if (target.kind === "cluster") return `the Redis Cluster (${target.nodes.length} seed nodes)`;
  return `the master "${target.name}" of ${target.sentinels.length} Sentinels`;
}

async function connectIORedis(
  ioredis: typeof import("ioredis"),
  target: Target,
  keyPrefix: string,
  timeoutMs: number,
): Promise<Connection> {
  // No retries and no reconnects: a command line tool reports the failure instead of waiting.
  const common: RedisOptions = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  };
  let client: Redis | Cluster;
  if (target.kind === "url") {
    const { node, credentials, db, secure } = parseRedisURL("--redis-url", target.url);
    client = new ioredis.Redis({ ...common, ...node, ...credentials, db, ...(secure ? { tls: {} } : {}) });
  } else if (target.kind === "cluster") {
    const parsed = target.nodes.map((url) => parseRedisURL("--cluster-nodes", url));
    const first = parsed[0];
    client = new ioredis.Cluster(
      parsed.map((p) => p.node),
      {
        lazyConnect: true,
        clusterRetryStrategy: () => null,
        redisOptions: {
          ...common,
          ...(first?.credentials ?? {}),
          ...(first?.secure ? { tls: {} } : {}),
        },
      },
    );
  } else {
    client = new ioredis.Redis({
      ...common,
      sentinels: target.sentinels,
      name: target.name,
      ...target.credentials,
      db: target.db,
      sentinelRetryStrategy: () => null,
    });
  }
  // Connection errors are reported by the failing call, in one line: the socket's own error (e.g.
  // ECONNREFUSED) says more than the "Connection is closed." ioredis fails the connect with.
  let lastError: Error | undefined;
  client.on("error", (error: Error) => {
    lastError = error;
  });
  try {
    await within(timeoutMs, `cannot connect to ${describe(target)}`, client.connect());
  } catch (error) {
    client.disconnect();
    if (error instanceof CommandError) throw error;
    const reason = lastError?.message ?? (error as Error).message;
    throw new CommandError(`cannot connect to ${describe(target)}: ${reason}`);
  }
  const store = createRedisStore({ client, keyPrefix, commandTimeoutMs: timeoutMs });
  const masters: Redis[] = client instanceof ioredis.Cluster ? client.nodes("master") : [client];
  return {
    store,
    masters: masters.length,
    async scan(pattern, onKeys) {
      for (const [index, node] of masters.entries()) {
        let cursor = "0";
        do {
          const [next, keys] = await within(
            timeoutMs,
            "SCAN",
            node.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT),
          );
          cursor = next;
          onKeys(keys.length, index);
        } while (cursor !== "0");
      }
    },
    async close() {
      await store.close();
      client.disconnect();
    },
  };
}

async function connectNodeRedis(
  nodeRedis: typeof import("redis"),
  target: Target,
  keyPrefix: string,
  timeoutMs: number,
): Promise<Connection> {
  if (target.kind === "sentinels") {
    throw new CommandError("--sentinels needs the ioredis package (npm install ioredis)");
  }
  const socket = { connectTimeout: timeoutMs, reconnectStrategy: false as const };
  if (target.kind === "url") {
    parseRedisURL("--redis-url", target.url); // the same checks, and messages, as ioredis's path
    const client = nodeRedis.createClient({ url: target.url, socket });
    client.on("error", () => {});
    try {
      await within(timeoutMs, `cannot connect to ${describe(target)}`, client.connect());
    } catch (error) {
      await client.disconnect().catch(() => {});
      if (error instanceof CommandError) throw error;
      throw new CommandError(`cannot connect to ${describe(target)}: ${(error as Error).message}`);
    }
    const own = client as unknown as NodeRedisClient;
    const store = createRedisStore({ client: own, keyPrefix, commandTimeoutMs: timeoutMs });
    return {
      store,
      masters: 1,
      scan: (pattern, onKeys) => scanNodeRedis([own], pattern, onKeys, timeoutMs),
      async close() {
        await store.close();
        await client.quit().catch(() => {});
      },
    };
  }
  for (const url of target.nodes) parseRedisURL("--cluster-nodes", url);
  const cluster = nodeRedis.createCluster({
    rootNodes: target.nodes.map((url) => ({ url })),
    defaults: { socket },
  });
  cluster.on("error", () => {});
  try {
    await within(timeoutMs, `cannot connect to ${describe(target)}`, cluster.connect());
  } catch (error) {
    await cluster.disconnect().catch(() => {});
    if (error instanceof CommandError) throw error;
    throw new CommandError(`cannot connect to ${describe(target)}: ${(error as Error).message}`);
  }
  const own = cluster as unknown as NodeRedisCluster;
  const store = createRedisStore({ client: own, keyPrefix, commandTimeoutMs: timeoutMs });
  return {
    store,
    masters: own.masters.length,
    async scan(pattern, onKeys) {
      const clients = await Promise.all(own.masters.map((master) => own.nodeClient(master)));
      await scanNodeRedis(clients, pattern, onKeys, timeoutMs);
    },
    async close() {
      await store.close();
      await cluster.close().catch(() => {});
    },
  };
}

async function scanNodeRedis(
  clients: NodeRedisClient[],
  pattern: string,
  onKeys: (count: number, master: number) => void,
  timeoutMs: number,
): Promise<void> {
  for (const [index, client] of clients.entries()) {
    let cursor = "0";
    do {
      const reply = (await within(
        timeoutMs,
        "SCAN",
        client.sendCommand(["SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT]),
      )) as [unknown, unknown[]];
      cursor = String(reply[0]);
      onKeys(reply[1].length, index);
    } while (cursor !== "0");
  }
}
