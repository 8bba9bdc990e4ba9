import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import type { Credentials, ResolvedRedisStoreOptions } from "./redis-store-options.js";

/** What `store.kind` says: one server, a Cluster, or a master found through Sentinel. */
export type RedisStoreKind = "redis" | "redis-cluster" | "redis-sentinel";

/** The ioredis client behind a store, with what the store needs to know about its state. */
export interface StoreConnection {
  readonly client: Redis | Cluster;
  readonly kind: RedisStoreKind;
  /** Whether connections use TLS (to explain failures that mean "TLS on one side only"). */
  readonly tls: boolean;
  /**
   * True when the client itself bounds every call by the command timeout, queued ones included (a
   * standalone or Sentinel client the store created: ioredis starts `commandTimeout` before queueing).
   * A Cluster queues commands while it has no slot map, and a caller's client may have no timeout.
   */
  readonly boundsCommands: boolean;
  /**
   * Why calls must fail at once, or undefined when they may be sent: the store is closed, or the
   * connection is known to be down (ioredis waits to reconnect). While ioredis is (re)connecting, calls
   * are queued and bounded by the command timeout instead.
   */
  offlineReason(): string | undefined;
  /**
   * The last error ioredis reported on the connection (refused, WRONGPASS, ...) since the last call
   * that succeeded, to explain failures.
   */
  lastError(): Error | undefined;
  /** A call succeeded: earlier connection errors are history. */
  clearLastError(): void;
  /** Quits an owned client (bounded in time) or detaches from a caller's client. */
  close(): Promise<void>;
}

/** Reconnect backoff: 50 ms, 100 ms, ... at most 2 s between attempts, forever. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 2000);
const QUIT_TIMEOUT_MS = 1000;
const OFFLINE_STATUSES: ReadonlySet<string> = new Set(["reconnecting", "close", "end", "disconnecting"]);

/**
 * Opens the connection the options describe. Owned clients are set up so that no call can hang:
 * - `commandTimeout`: every reply is awaited at most `commandTimeoutMs`;
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: when the connection drops,
 *   queued and in-flight commands fail at once and are never replayed later (a replayed HINCRBY would
 *   count twice), while ioredis keeps reconnecting in the background with `reconnectDelay`;
 * - the offline queue stays on only so that calls made while the first connection is being set up wait
 *   for it (bounded by the command timeout) instead of failing; once the connection is known to be
 *   down, `offlineReason()` makes calls fail without being queued.
 * - `enableReadyCheck: false`: no INFO on connect, so an ACL user needs no `@dangerous` commands.
 */
export function openConnection(options: ResolvedRedisStoreOptions): StoreConnection {
  let last: Error | undefined;
  let closed = false;
  const onError = (error: Error): void => {
    // ioredis also reports the set-up commands it drops with a lost connection (AUTH, CLIENT SETINFO)
    // as MaxRetriesPerRequestError: the connection error reported before it says why (ECONNRESET).
    if (error.name !== "MaxRetriesPerRequestError" || last === undefined) last = error;
    options.onError?.(error);
  };

  if (options.mode === "client") {
    const { client } = options;
    // The caller owns the client and its error handling; we only listen when asked to report.
    if (options.onError) client.on("error", onError);
    return {
      client,
      kind: kindOf(client),
      tls: usesTLS(client),
      boundsCommands: false,
      offlineReason: () => (closed ? "the store is closed" : offline(client)),
      lastError: () => last,
      clearLastError: () => {
        last = undefined;
      },
      async close() {
        closed = true;
        if (options.onError) client.off("error", onError);
      },
    };
  }

  const common: RedisOptions = {
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: true,
    enableReadyCheck: false,
  };
  let client: Redis | Cluster;
  if (options.mode === "standalone") {
    client = new Redis({
      ...common,
      ...options.node,
      ...credentialsOf(options.credentials),
      db: options.db,
      retryStrategy: reconnectDelay,
      ...(options.tls ? { tls: options.tls } : {}),
    });
  } else if (options.mode === "sentinel") {
    client = new Redis({
      ...common,
      sentinels: options.sentinels,
      name: options.sentinelName,
      ...credentialsOf(options.credentials),
      db: options.db,
      retryStrategy: reconnectDelay,
      sentinelRetryStrategy: reconnectDelay,
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
      slotsRefreshTimeout: options.connectTimeoutMs,
      // Connect to the names the cluster announces as they are: with TLS (ElastiCache), resolving them
      // to IP addresses first would make certificate checks fail.
      dnsLookup: (address, callback) => callback(null, address),
    };
    client = new Cluster(options.nodes, clusterOptions);
    client.on("node error", onError);
  }
  // Without a listener ioredis prints every connection error; the store reports them through calls.
  client.on("error", onError);

  return {
    client,
    kind: kindOf(client),
    tls: options.tls !== undefined,
    boundsCommands: !client.isCluster,
    offlineReason: () => (closed ? "the store is closed" : offline(client)),
    lastError: () => last,
    clearLastError: () => {
      last = undefined;
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
