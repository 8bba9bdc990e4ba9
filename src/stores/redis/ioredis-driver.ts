import type { Cluster, ClusterOptions, Redis, RedisOptions } from "ioredis";
import {
  CLUSTER_SLOTS,
  type ClusterMaster,
  type RedisDriver,
  type RedisStoreKind,
  type ServerNode,
  type Topology,
} from "./driver.js";
import { type ClusterNodeWatch, watchClusterNodes } from "./ioredis-cluster-nodes.js";
import { SCRIPT_KEY_COUNTS, SCRIPT_SOURCES, type ScriptArgument, type ScriptName } from "./lua.js";
import { requireOptionalPeer } from "./optional-peer.js";
import type { Credentials, ResolvedRedisStoreOptions } from "./redis-store-options.js";

/** The options that make the store create its own ioredis client. */
type OwnedClientOptions = Extract<ResolvedRedisStoreOptions, { mode: "standalone" | "cluster" | "sentinel" }>;

/** Reconnect backoff: 50 ms, 100 ms, ... at most 2 s between attempts, forever. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 2000);
const QUIT_TIMEOUT_MS = 1000;
const OFFLINE_STATUSES: ReadonlySet<string> = new Set(["reconnecting", "close", "end", "disconnecting"]);
const OPTION_OF_MODE = { standalone: "url", cluster: "clusterNodes", sentinel: "sentinels" } as const;

/**
 * Opens the ioredis connection the options describe, loading ioredis only now (an optional peer:
 * without it, InvalidOptionError names the option). Owned clients are set up so that no call can hang:
 * - no `commandTimeout` of ioredis's: the command runner bounds every call (`command-deadline.ts`),
 *   for this client as for any other;
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: when the connection drops,
 *   queued and in-flight commands fail at once and are never replayed later (a replayed HINCRBY would
 *   count twice), while ioredis keeps reconnecting in the background with `reconnectDelay`;
 * - the offline queue stays on only so that calls made while the first connection is being set up wait
 *   for it (bounded by the command timeout) instead of failing; once the connection is known to be
 *   down, `offlineReason()` makes calls fail without being queued.
 * - `enableReadyCheck: false`: no INFO on connect, so an ACL user needs no `@dangerous` commands.
 */
export function openIoredisDriver(options: OwnedClientOptions): RedisDriver {
  const ioredis = requireOptionalPeer<typeof import("ioredis")>(
    "ioredis",
    OPTION_OF_MODE[options.mode],
    "or pass a connected node-redis client as client",
  );
  const errors = errorRecorder(options.onError);
  const common: RedisOptions = {
    connectTimeout: options.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: true,
    enableReadyCheck: false,
  };
  let client: Redis | Cluster;
  let nodes: ClusterNodeWatch | undefined;
  if (options.mode === "standalone") {
    client = new ioredis.Redis({
      ...common,
      ...options.node,
      ...credentialsOf(options.credentials),
      db: options.db,
      retryStrategy: reconnectDelay,
      ...(options.tls ? { tls: options.tls } : {}),
    });
  } else if (options.mode === "sentinel") {
    client = new ioredis.Redis({
      ...common,
      sentinels: options.sentinels,
      name: options.sentinelName,
      ...credentialsOf(options.credentials),
      db: options.db,
      retryStrategy: reconnectDelay,
      sentinelRetryStrategy: reconnectDelay,
      // Follow +switch-master at once: without it a planned switchover left the client on the old
      // master, which kept accepting writes its demotion then erased, for about 11 s.
      failoverDetector: true,
      ...(options.sentinelPassword === undefined ? {} : { sentinelPassword: options.sentinelPassword }),
      ...(options.tls ? { tls: options.tls, enableTLSForSentinelMode: true } : {}),
    });
  } else {
    const clusterOptions: ClusterOptions = {
      redisOptions: {
        ...common,
        ...credentialsOf(options.credentials),
        ...(options.tls ? { tls: options.tls } : {}),
      },
      enableOfflineQueue: true,
      clusterRetryStrategy: reconnectDelay,
      // No resend of a call whose connection closed: it may have run (its reply lost with the
      // connection), and a resent HINCRBY counted twice (327 of 13,879 calls with connections killed
      // every 100 ms: redis-cluster-replay.test.ts). A CLUSTERDOWN refusal fails at once too, rather than running after the caller
      // was told it failed. (MOVED and ASK, refused before running, are still followed.)
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      // Each node's client reconnects on its own instead of ending: a master whose connection dropped
      // stays the one its slots' calls go to. Without it, when every master connection dropped at
      // once, ioredis sent scripts to a replica (READONLY). With maxRetriesPerRequest 0, every failed
      // attempt fails the node's queued calls, and nothing is resent (autoResendUnfulfilledCommands).
      clusterNodeRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: options.connectTimeoutMs,
      // Connect to the names the cluster announces as they are: with TLS (ElastiCache), resolving them
      // to IP addresses first would make certificate checks fail.
      dnsLookup: (address, callback) => callback(null, address),
    };
    client = new ioredis.Cluster(options.nodes, clusterOptions);
    client.on("node error", errors.record);
    nodes = watchClusterNodes(client);
  }
  // Without a listener ioredis prints every connection error; the store reports them through calls.
  client.on("error", errors.record);

  let closed = false;
  return {
    ...commandsOf(client, () => closed, errors, nodes),
    tls: options.tls !== undefined,
    async close() {
      if (closed) return;
      closed = true;
      nodes?.stop();
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
 * A driver on a caller's ioredis `Redis` or `Cluster`, used as configured. The caller owns the client
 * and its error handling: the store listens to its errors only when asked to report them (`onError`),
 * and `close()` leaves the client open. Its own `commandTimeout`, if any, may end a call first; the
 * command runner bounds every call either way.
 */
export function ioredisClientDriver(client: Redis | Cluster, onError?: (error: Error) => void): RedisDriver {
  const errors = errorRecorder(onError);
  if (onError) client.on("error", errors.record);
  const nodes = client.isCluster ? watchClusterNodes(client as Cluster) : undefined;
  let closed = false;
  return {
    ...commandsOf(client, () => closed, errors, nodes),
    tls: usesTLS(client),
    async close() {
      closed = true;
      nodes?.stop();
      if (onError) client.off("error", errors.record);
    },
  };
}

/** The last connection error, and the caller's `onError`. */
function errorRecorder(onError: ((error: Error) => void) | undefined) {
  let last: Error | undefined;
  return {
    record: (error: Error): void => {
      // ioredis also reports the set-up commands it drops with a lost connection (AUTH, CLIENT SETINFO)
      // as MaxRetriesPerRequestError: the connection error reported before it says why (ECONNRESET).
      if (error.name !== "MaxRetriesPerRequestError" || last === undefined) last = error;
      onError?.(error);
    },
    last: () => last,
    clear: () => {
      last = undefined;
    },
  };
}

/** The parts of a driver that are the same for an owned and a caller's client. */
function commandsOf(
  client: Redis | Cluster,
  isClosed: () => boolean,
  errors: ReturnType<typeof errorRecorder>,
  nodes: ClusterNodeWatch | undefined,
): Omit<RedisDriver, "tls" | "close"> {
  const scripts = defineStoreScripts(client);
  /** Runs `call` unless `key`'s Cluster master is known down: then it fails at once, unsent. */
  const onKey = <T>(key: string | undefined, call: () => Promise<T>): Promise<T> => {
    const down = key === undefined ? undefined : nodes?.unreachable(key);
    return down === undefined ? call() : Promise.reject(new Error(down));
  };
  // ioredis cannot withdraw a command, so the runner's signal is not passed on: a command is written at
  // once (or fails: no offline queue once the connection is known down), and a call past its deadline
  // is rejected by the runner while ioredis still reads its reply.
  return {
    kind: kindOf(client),
    // The page-view path: no closure for onKey's sake.
    runScript(name, keys, args) {
      const down = nodes === undefined ? undefined : nodes.unreachable(keys[0] as string);
      return down === undefined ? scripts[name](keys, args) : Promise.reject(new Error(down));
    },
    waitForReplicas: (replicas, timeoutMs) => client.call("WAIT", replicas, timeoutMs) as Promise<number>,
    del: (key) => onKey(key, () => client.del(key)),
    exists: (key) => onKey(key, () => client.exists(key)),
    hgetall: (key) => onKey(key, () => client.hgetall(key)),
    get: (key) => onKey(key, () => client.get(key)),
    ping: () => client.ping(),
    clusterReady: () => client.isCluster && client.status === "ready",
    clusterMasters: async () => clusterMasters(client as Cluster),
    topology: () => topologyOf(client),
    offlineReason: () => (isClosed() ? "the store is closed" : offline(client)),
    lastError: errors.last,
    clearLastError: errors.clear,
  };
}

/** A script defined on the client: its KEYS, then its ARGV. */
type ClientScript = (keys: readonly string[], args: readonly ScriptArgument[]) => Promise<unknown>;

/**
 * Defines the scripts on the client with ioredis `defineCommand`: each call is an EVALSHA, and on
 * NOSCRIPT (a restarted server, a new Cluster node) ioredis sends the script once with EVAL.
 * Command names carry a `latchkey` prefix so they cannot clash with the caller's own.
 */
function defineStoreScripts(client: Redis | Cluster): Record<ScriptName, ClientScript> {
  const commands = client as unknown as Record<string, (...args: ScriptArgument[]) => Promise<unknown>>;
  const scripts: Partial<Record<ScriptName, ClientScript>> = {};
  for (const [name, lua] of Object.entries(SCRIPT_SOURCES) as [ScriptName, string][]) {
    const command = `latchkey${name[0]?.toUpperCase()}${name.slice(1)}`;
    const numberOfKeys = SCRIPT_KEY_COUNTS[name];
    // Without a fixed numberOfKeys each call passes its key count first (a create has 1 or 3 keys).
    client.defineCommand(command, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
    const call = commands[command];
    if (!call) throw new Error(`ioredis did not define ${command}`);
    scripts[name] =
      numberOfKeys === undefined
        ? (keys, args) => call.call(client, keys.length, ...keys, ...args)
        : (keys, args) => call.call(client, ...keys, ...args);
  }
  return scripts as Record<ScriptName, ClientScript>;
}

/** The connected master of every hash slot, or an error saying which slot or master is missing. */
function clusterMasters(cluster: Cluster): ClusterMaster[] {
  const connected = new Map(
    cluster.nodes("master").map((node) => [`${node.options.host}:${node.options.port}`, node]),
  );
  const owners = new Set<string>();
  let covered = 0;
  for (const nodes of cluster.slots) {
    const master = nodes?.[0];
    if (master === undefined) continue;
    covered += 1;
    owners.add(master);
  }
  if (covered < CLUSTER_SLOTS)
    throw new Error(`only ${covered} of ${CLUSTER_SLOTS} hash slots have a master`);
  return [...owners].map((address) => {
    const node = connected.get(address);
    if (!node) throw new Error(`the master ${address} is not connected`);
    return { address, ping: () => node.ping() };
  });
}

/** The one server, or every master the slot map names (connected or not), without a round trip. */
function topologyOf(client: Redis | Cluster): Topology {
  if (!client.isCluster) {
    const redis = client as Redis;
    // Through Sentinel the options name no master: the socket says which one we reached.
    const address =
      kindOf(client) === "redis-sentinel"
        ? redis.stream?.remoteAddress
          ? `${redis.stream.remoteAddress}:${redis.stream.remotePort}`
          : ""
        : `${redis.options.host}:${redis.options.port}`;
    const node: ServerNode = {
      address,
      connected: offline(redis) === undefined,
      command: ([name, ...args]) => redis.call(name as string, ...args),
    };
    return { nodes: [node] };
  }
  const cluster = client as Cluster;
  const pool = new Map(
    cluster.nodes("master").map((node) => [`${node.options.host}:${node.options.port}`, node]),
  );
  const slotOwners: (string | undefined)[] = [];
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) slotOwners.push(cluster.slots[slot]?.[0]);
  const addresses = new Set(slotOwners.filter((owner): owner is string => owner !== undefined));
  const nodes = [...addresses].map((address): ServerNode => {
    // A node leaves ioredis's pool when its connection ends; one never used yet is "wait" (lazy).
    const node = pool.get(address);
    return {
      address,
      connected: node !== undefined && !OFFLINE_STATUSES.has(node.status),
      command: ([name, ...args]) =>
        node
          ? node.call(name as string, ...args)
          : Promise.reject(new Error(`the master ${address} is not connected`)),
    };
  });
  return { nodes, slotOwners };
}

function offline(client: Redis | Cluster): string | undefined {
  return OFFLINE_STATUSES.has(client.status)
    ? `not connected (ioredis status "${client.status}")`
    : undefined;
}

function kindOf(client: Redis | Cluster): RedisStoreKind {
  if (client.isCluster) return "redis-cluster";
  const sentinels = (client as Redis).options?.sentinels;
  return Array.isArray(sentinels) && sentinels.length > 0 ? "redis-sentinel" : "redis";
}

function usesTLS(client: Redis | Cluster): boolean {
  const options = client.isCluster ? (client as Cluster).options.redisOptions : (client as Redis).options;
  return options?.tls !== undefined;
}

function credentialsOf(credentials: Credentials): Pick<RedisOptions, "username" | "password"> {
  return { ...credentials };
}
