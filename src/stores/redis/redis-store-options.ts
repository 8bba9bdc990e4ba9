import type { ConnectionOptions } from "node:tls";
import { InvalidOptionError } from "../../core/errors.js";
import { isWholeNumber } from "../../core/whole-number.js";
import type { NodeRedisClient, NodeRedisCluster, NodeRedisTarget } from "./node-redis-driver.js";
import { type Credentials, type NodeAddress, type ParsedURL, parseRedisURL } from "./redis-url.js";

export type { Credentials, NodeAddress } from "./redis-url.js";

/** Where the store connects: exactly one of `url`, `clusterNodes`, `sentinels` or `client`. */
export interface RedisStoreOptions {
  /**
   * One Redis server: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. The
   * credentials are sent with AUTH (ACL user and password, or a password alone); percent-encode
   * special characters in them.
   */
  url?: string;
  /**
   * Seed nodes of a Redis Cluster (e.g. an ElastiCache configuration endpoint), as URLs like `url`
   * but without a database. `rediss://` means TLS for every node; the credentials of the URLs are used
   * for every node.
   */
  clusterNodes?: readonly string[];
  /** Sentinels that know the current master named `sentinelName`. */
  sentinels?: readonly { host: string; port: number }[];
  /** The master group name the sentinels monitor; required with `sentinels`. */
  sentinelName?: string;
  /** With `sentinels`: the ACL user of the data nodes (with `password`). */
  username?: string;
  /** With `sentinels`: the password of the data nodes. */
  password?: string;
  /** With `sentinels`: the password of the sentinels themselves, when they have one. */
  sentinelPassword?: string;
  /** With `sentinels`: the database number. Default 0. */
  db?: number;
  /**
   * A client you create, connect and own, instead of `url`, `clusterNodes` or `sentinels`:
   * - an ioredis `Redis` or `Cluster`: the store defines its scripts on it and uses it as configured;
   * - a node-redis v5/v6 client from `createClient()` or cluster from `createCluster()`, already
   *   connected (`await createClient({ url }).connect()`): the store sends its commands with
   *   `sendCommand`, so the client's `keyPrefix` and type mapping do not apply.
   *
   * Connecting, the reconnect strategy, an `error` listener and closing stay your job: `close()` leaves
   * the client open. The store still bounds every call by `commandTimeoutMs` and fails at once while
   * the client is not connected (ioredis status "reconnecting", node-redis `isReady` false).
   *
   * @example
   * import { createClient } from "redis";
   * const client = await createClient({ url: "redis://localhost:6379" }).on("error", log).connect();
   * const store = createRedisStore({ client });
   */
  client?: IORedisClient | NodeRedisClient | NodeRedisCluster;
  /** Prefix of every key the store writes. Default `"lk:"`. No braces: the store adds its own hash tags. */
  keyPrefix?: string;
  /** Longest wait for any one Redis reply before StoreUnavailableError. Default 1000, at most 60000. */
  commandTimeoutMs?: number;
  /**
   * Keep a per-user index of sessions (`<prefix>u:{tag}<userId>`, a sorted set), which `listForUser`,
   * `destroyById`, `destroyForUser` and the `maxSessionsPerUser` cap need. Default true. `false` saves
   * one Redis key per user (about 180 bytes with one session per user) for apps that never list or end
   * a user's sessions; those three calls then throw UnsupportedOperationError, and the cap does not
   * apply. Sessions created while it is false are in no index: turning it back on ends them at their
   * next view (a session outside its index could not be revoked).
   */
  userIndex?: boolean;
  /** Longest wait for a TCP (and TLS) connection to be set up. Default 3000, at most 60000. */
  connectTimeoutMs?: number;
  /**
   * TLS options for every connection (`node:tls` `ConnectionOptions`, e.g. `{ ca }`). A `rediss://`
   * URL turns TLS on with Node's defaults; `tls` also turns it on for a `redis://` URL.
   */
  tls?: ConnectionOptions;
  /**
   * Called with every connection error the client reports while it reconnects in the background (for
   * logging). Without it those errors are kept quiet: calls report them as StoreUnavailableError.
   * With a caller's `client`, the store listens to its errors only when `onError` is given.
   */
  onError?: (error: Error) => void;
  /**
   * Durability over a failover: after every write (a login, rotation, logout, revocation, field update,
   * counted view, flash, record or throttle change), wait until `replicas` replicas have it (Redis
   * `WAIT`), at most `timeoutMs` (less than `commandTimeoutMs`). A write they do not confirm in time is
   * reported as failed (StoreUnavailableError: it may or may not survive), so an acknowledged write is
   * on a replica and survives the promotion of that replica. Costs a second round trip per write (see
   * the benchmark); loads without a counter do not wait. Standalone and Sentinel only: on a Cluster,
   * `WAIT` must reach each key's master, which the clients do not route.
   */
  waitForReplicas?: { replicas: number; timeoutMs: number };
}

/** The options after validation, with defaults filled in and URLs taken apart. */
export type ResolvedRedisStoreOptions = {
  keyPrefix: string;
  userIndex: boolean;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  onError?: (error: Error) => void;
  waitForReplicas?: { replicas: number; timeoutMs: number };
} & (
  | { mode: "standalone"; node: NodeAddress; credentials: Credentials; db: number; tls?: ConnectionOptions }
  | { mode: "cluster"; nodes: NodeAddress[]; credentials: Credentials; tls?: ConnectionOptions }
  | {
      mode: "sentinel";
      sentinels: NodeAddress[];
      sentinelName: string;
      credentials: Credentials;
      sentinelPassword?: string;
      db: number;
      tls?: ConnectionOptions;
    }
  | { mode: "client"; client: CallerClient }
);

/** A caller's client, with the library it comes from. */
export type CallerClient = { library: "ioredis"; client: IORedisClient } | NodeRedisTarget;

/**
 * An ioredis `Redis` or `Cluster`, described by the members that tell it apart, so that the typings do
 * not need ioredis installed (an app on node-redis alone type-checks even with `skipLibCheck: false`).
 * Every ioredis 5 and 6 client satisfies it.
 */
export interface IORedisClient {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  readonly status: string;
  readonly isCluster: boolean;
}

const DEFAULT_PREFIX = "lk:";
const DEFAULT_COMMAND_TIMEOUT_MS = 1000;
const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
const MAX_TIMEOUT_MS = 60_000;
const MAX_PREFIX_LENGTH = 64;
const TARGETS = ["url", "clusterNodes", "sentinels", "client"] as const;
const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  ...TARGETS,
  "sentinelName",
  "username",
  "password",
  "sentinelPassword",
  "db",
  "keyPrefix",
  "commandTimeoutMs",
  "userIndex",
  "connectTimeoutMs",
  "tls",
  "onError",
  "waitForReplicas",
]);
const SENTINEL_ONLY = ["sentinelName", "username", "password", "sentinelPassword", "db"] as const;

/** Checks every option once, at construction; throws InvalidOptionError naming the first bad one. */
export function resolveRedisStoreOptions(options: RedisStoreOptions): ResolvedRedisStoreOptions {
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError("options", 'must be an object such as { url: "redis://localhost:6379" }');
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name)) {
      throw new InvalidOptionError(
        name,
        `is not an option of createRedisStore (known: ${[...KNOWN_OPTIONS].join(", ")})`,
      );
    }
  }
  const given = TARGETS.filter((name) => options[name] !== undefined);
  if (given.length === 0) {
    throw new InvalidOptionError(
      "url",
      "is required: pass exactly one of url, clusterNodes, sentinels or client",
    );
  }
  if (given.length > 1) {
    throw new InvalidOptionError(
      given[1] as string,
      `cannot be combined with ${given[0]}: pass exactly one of url, clusterNodes, sentinels or client`,
    );
  }
  if (options.sentinels === undefined) {
    for (const name of SENTINEL_ONLY) {
      if (options[name] !== undefined) {
        throw new InvalidOptionError(
          name,
          "is only for sentinels; with url or clusterNodes, credentials and the database go in the URL",
        );
      }
    }
  }
  const common = {
    keyPrefix: resolvePrefix(options.keyPrefix),
    userIndex: resolveBoolean("userIndex", options.userIndex, true),
    commandTimeoutMs: resolveTimeout(
      "commandTimeoutMs",
      options.commandTimeoutMs,
      DEFAULT_COMMAND_TIMEOUT_MS,
    ),
    connectTimeoutMs: resolveTimeout(
      "connectTimeoutMs",
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
    ),
    ...(options.onError === undefined ? {} : { onError: resolveOnError(options.onError) }),
  };
  if (options.waitForReplicas !== undefined) {
    if (options.clusterNodes !== undefined) {
      throw new InvalidOptionError(
        "waitForReplicas",
        "is not supported on a Cluster (WAIT must reach each key's master); use it with url or sentinels",
      );
    }
    Object.assign(common, {
      waitForReplicas: resolveWaitForReplicas(options.waitForReplicas, common.commandTimeoutMs),
    });
  }
  const tls = resolveTLS(options.tls);

  if (options.client !== undefined) {
    if (tls)
      throw new InvalidOptionError("tls", "cannot be combined with client: configure TLS on your client");
    const connectTimeoutGiven = options.connectTimeoutMs !== undefined;
    if (connectTimeoutGiven) {
      throw new InvalidOptionError(
        "connectTimeoutMs",
        "cannot be combined with client: set connectTimeout on your client",
      );
    }
    return { ...common, mode: "client", client: resolveClient(options.client) };
  }
  if (options.url !== undefined) {
    const parsed = parseRedisURL("url", options.url);
    return {
      ...common,
      mode: "standalone",
      node: parsed.node,
      credentials: parsed.credentials,
      db: parsed.db,
      ...tlsFor(parsed.secure, tls),
    };
  }
  if (options.clusterNodes !== undefined) {
    return { ...common, mode: "cluster", ...resolveClusterNodes(options.clusterNodes, tls) };
  }
  return { ...common, mode: "sentinel", ...resolveSentinels(options, tls) };
}

function resolveClusterNodes(value: unknown, tls: ConnectionOptions | undefined) {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidOptionError("clusterNodes", "must be a non-empty array of redis:// or rediss:// URLs");
  }
  const parsed = value.map((url, index) => parseRedisURL(`clusterNodes[${index}]`, url));
  const first = parsed[0] as ParsedURL;
  parsed.forEach((node, index) => {
    if (node.db !== 0) {
      throw new InvalidOptionError(
        `clusterNodes[${index}]`,
        "must not name a database: a Redis Cluster has only database 0",
      );
    }
    if (node.secure !== first.secure) {
      throw new InvalidOptionError(
        `clusterNodes[${index}]`,
        "mixes redis:// and rediss://: use one scheme for every node",
      );
    }
    const same =
      node.credentials.username === first.credentials.username &&
      node.credentials.password === first.credentials.password;
    if (!same) {
      throw new InvalidOptionError(
        `clusterNodes[${index}]`,
        "has other credentials than clusterNodes[0]: every node uses the same ones",
      );
    }
  });
  return { nodes: parsed.map((p) => p.node), credentials: first.credentials, ...tlsFor(first.secure, tls) };
}

function resolveSentinels(options: RedisStoreOptions, tls: ConnectionOptions | undefined) {
  const { sentinels, sentinelName, username, password, sentinelPassword, db = 0 } = options;
  if (!Array.isArray(sentinels) || sentinels.length === 0) {
    throw new InvalidOptionError("sentinels", "must be a non-empty array of { host, port }");
  }
  sentinels.forEach((sentinel: unknown, index) => {
    const { host, port } = (sentinel ?? {}) as Partial<NodeAddress>;
    if (typeof host !== "string" || host.length === 0 || !isWholeNumber(port, 1, 65_535)) {
      throw new InvalidOptionError(`sentinels[${index}]`, "must be { host: string, port: 1-65535 }");
    }
  });
  if (typeof sentinelName !== "string" || sentinelName.length === 0) {
    throw new InvalidOptionError(
      "sentinelName",
      "is required with sentinels: the name of the monitored master",
    );
  }
  for (const [name, value] of [
    ["username", username],
    ["password", password],
    ["sentinelPassword", sentinelPassword],
  ] as const) {
    if (value !== undefined && typeof value !== "string")
      throw new InvalidOptionError(name, "must be a string");
  }
  if (username !== undefined && password === undefined) {
    throw new InvalidOptionError("username", "needs a password");
  }
  if (!isWholeNumber(db, 0, Number.MAX_SAFE_INTEGER))
    throw new InvalidOptionError("db", `must be a whole number >= 0, got ${String(db)}`);
  const credentials: Credentials = {};
  if (username !== undefined) credentials.username = username;
  if (password !== undefined) credentials.password = password;
  return {
    sentinels: sentinels.map(({ host, port }) => ({ host, port })),
    sentinelName,
    credentials,
    db,
    ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
    ...(tls ? { tls } : {}),
  };
}

/**
 * Tells the client libraries apart by what they have: ioredis clients `defineCommand`; node-redis
 * clients `sendCommand`, `isOpen` and `isReady`; a node-redis cluster `sendCommand`, `isOpen`,
 * `nodeClient` and `masters`.
 */
function resolveClient(client: unknown): CallerClient {
  const has = (name: string, type: string) =>
    typeof (client as Record<string, unknown> | null)?.[name] === type;
  if (typeof client === "object" && client !== null) {
    if (has("defineCommand", "function") && has("evalsha", "function")) {
      return { library: "ioredis", client: client as IORedisClient };
    }
    const nodeRedis = has("sendCommand", "function") && has("isOpen", "boolean");
    if (nodeRedis && has("getSentinelNode", "function")) {
      throw new InvalidOptionError(
        "client",
        "is a node-redis Sentinel client, which the store does not support: pass sentinels and sentinelName, or a node-redis client or cluster",
      );
    }
    if (nodeRedis && has("nodeClient", "function") && Array.isArray((client as NodeRedisCluster).masters)) {
      return { library: "node-redis-cluster", cluster: client as NodeRedisCluster };
    }
    // A v5 cluster has no isReady; a client pool or a legacy-mode client has no isReady either.
    if (nodeRedis && has("isReady", "boolean") && !has("nodeClient", "function")) {
      return { library: "node-redis", client: client as NodeRedisClient };
    }
  }
  throw new InvalidOptionError(
    "client",
    "must be an ioredis Redis or Cluster instance, or a node-redis client (createClient) or cluster (createCluster)",
  );
}

function resolvePrefix(value: unknown): string {
  if (value === undefined) return DEFAULT_PREFIX;
  if (typeof value !== "string" || value.length > MAX_PREFIX_LENGTH || !/^[!-~]*$/.test(value)) {
    throw new InvalidOptionError(
      "keyPrefix",
      `must be a string of at most ${MAX_PREFIX_LENGTH} printable ASCII characters without spaces`,
    );
  }
  // The store puts each user's slot tag in braces after the prefix; a brace in the prefix would make
  // Redis Cluster hash another part of the key, and split a user's session from its index.
  if (/[{}]/.test(value)) {
    throw new InvalidOptionError("keyPrefix", "must not contain { or }: the store places its own hash tags");
  }
  return value;
}

function resolveTimeout(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (!isWholeNumber(value, 1, MAX_TIMEOUT_MS)) {
    throw new InvalidOptionError(
      option,
      `must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}, got ${String(value)}`,
    );
  }
  return value;
}

function resolveTLS(value: unknown): ConnectionOptions | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidOptionError("tls", "must be an object of node:tls connection options, e.g. { ca }");
  }
  return value as ConnectionOptions;
}

function resolveOnError(value: unknown): (error: Error) => void {
  if (typeof value !== "function")
    throw new InvalidOptionError("onError", "must be a function (error) => void");
  return value as (error: Error) => void;
}

/** rediss:// turns TLS on with defaults; the `tls` option adds settings (and turns it on for redis://). */
function tlsFor(secure: boolean, tls: ConnectionOptions | undefined): { tls?: ConnectionOptions } {
  if (tls) return { tls };
  return secure ? { tls: {} } : {};
}

function resolveBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new InvalidOptionError(name, `must be true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

function resolveWaitForReplicas(
  value: unknown,
  commandTimeoutMs: number,
): { replicas: number; timeoutMs: number } {
  const { replicas, timeoutMs } = (typeof value === "object" && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  if (!isWholeNumber(replicas, 1, 100) || !isWholeNumber(timeoutMs, 1, commandTimeoutMs - 1)) {
    throw new InvalidOptionError(
      "waitForReplicas",
      `must be { replicas: 1-100, timeoutMs: 1-${commandTimeoutMs - 1} } (timeoutMs under commandTimeoutMs), got ${JSON.stringify(value)}`,
    );
  }
  return { replicas, timeoutMs };
}
