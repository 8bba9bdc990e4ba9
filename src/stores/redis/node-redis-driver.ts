import { createHash } from "node:crypto";
import type { Deadline } from "./command-deadline.js";
import {
  CLUSTER_SLOTS,
  type ClusterMaster,
  type RedisDriver,
  type ServerNode,
  type Topology,
} from "./driver.js";
import { SCRIPT_SOURCES, type ScriptName } from "./lua.js";

/**
 * The per-command options of node-redis v5/v6 the store passes. `abortSignal` takes a command out of
 * the client's queue while it is not yet written (node-redis ignores it once the command is on the
 * wire); an empty `typeMapping` asks for the default reply types (strings, numbers, arrays) whatever
 * the client's own mapping is (e.g. Buffers).
 */
export interface NodeRedisCommandOptions {
  abortSignal?: AbortSignal;
  typeMapping?: Record<string, never>;
  /**
   * node-redis's own per-command timeout (v6 defaults to 5 s, with an `AbortSignal.timeout` and a
   * listener per command); 0 turns it off for the store's commands, which the store's runner bounds.
   */
  timeout?: number;
}

/**
 * The part of a node-redis v5/v6 client (`createClient()`) the store uses. Declared here rather than
 * imported, so that the store's types do not need the `redis` package.
 */
export interface NodeRedisClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(args: string[], options?: NodeRedisCommandOptions): Promise<unknown>;
  on(event: "error", listener: (error: Error) => void): unknown;
  off(event: "error", listener: (error: Error) => void): unknown;
}

/** A node of a node-redis cluster's slot map. */
export interface NodeRedisClusterNode {
  readonly address: string;
}

/** The part of a node-redis v5/v6 cluster (`createCluster()`) the store uses. */
export interface NodeRedisCluster {
  readonly isOpen: boolean;
  /** v6 only: true once the slot map is known. v5 has only `isOpen` (true while it discovers, too). */
  readonly isReady?: boolean;
  readonly masters: readonly NodeRedisClusterNode[];
  readonly slots: readonly ({ readonly master: NodeRedisClusterNode } | undefined)[];
  /** The client of one node, connecting it when needed. */
  nodeClient(node: NodeRedisClusterNode): NodeRedisClient | Promise<NodeRedisClient>;
  /** A command routed to the master of `firstKey`'s slot (following MOVED and ASK). */
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
    options?: NodeRedisCommandOptions,
  ): Promise<unknown>;
  on(event: "error" | "node-error", listener: (error: Error) => void): unknown;
  off(event: "error" | "node-error", listener: (error: Error) => void): unknown;
}

/** A caller's node-redis client or cluster, as told apart by `redis-store-options.ts`. */
export type NodeRedisTarget =
  | { library: "node-redis"; client: NodeRedisClient }
  | { library: "node-redis-cluster"; cluster: NodeRedisCluster };

/** Options every reply is read with (see NodeRedisCommandOptions). */
const DEFAULT_TYPES: Record<string, never> = {};

/** EVALSHA needs each script's SHA-1, which Redis computes the same way. */
const SHAS = Object.fromEntries(
  Object.entries(SCRIPT_SOURCES).map(([name, lua]) => [name, createHash("sha1").update(lua).digest("hex")]),
) as Record<ScriptName, string>;

/**
 * A driver on a caller's node-redis client or cluster, created and connected by the caller, who also
 * chooses its reconnect strategy and closes it (`close()` leaves it open). The guarantees are those of
 * the ioredis driver:
 * - every call gets the command runner's deadline signal (the runner bounds it by `commandTimeoutMs`,
 *   including a cluster's waits for a node's connection or a new slot map); when the time is up the
 *   signal aborts, which takes the command out of node-redis's queue if it is not written yet, so a
 *   call reported as failed cannot run later (one already written may have reached Redis, as with any
 *   client);
 * - while the client is not ready, calls fail at once (`offlineReason`) instead of waiting in its
 *   offline queue; node-redis rejects in-flight commands when a connection drops and never resends
 *   them, so an increment is not replayed after a reconnect;
 * - the same Lua scripts, one EVALSHA per call (EVAL once after NOSCRIPT).
 * The store sends raw commands, so a node-redis `keyPrefix` does not apply: use `keyPrefix` instead.
 */
export function nodeRedisDriver(target: NodeRedisTarget, onError?: (error: Error) => void): RedisDriver {
  let last: Error | undefined;
  let closed = false;
  const record = (error: Error): void => {
    last = error;
    onError?.(error);
  };
  const isCluster = target.library === "node-redis-cluster";
  const state = isCluster ? target.cluster : target.client;
  const ready = isCluster
    ? () => target.cluster.isReady ?? (target.cluster.isOpen && target.cluster.masters.length > 0)
    : () => target.client.isReady;
  // Asking for the default reply types costs node-redis about 15,000 instructions per call: only when
  // the client may map them its own way (a cluster's node clients may, out of sight).
  const optionsOf: (deadline: Deadline) => NodeRedisCommandOptions =
    isCluster || mapsReplyTypes(target.client)
      ? (deadline) => ({ abortSignal: abortSignalOf(deadline), typeMapping: DEFAULT_TYPES, timeout: 0 })
      : (deadline) => ({ abortSignal: abortSignalOf(deadline), timeout: 0 });
  const send: (key: string | undefined, args: string[], deadline: Deadline) => Promise<unknown> = isCluster
    ? (key, args, deadline) => target.cluster.sendCommand(key, false, args, optionsOf(deadline))
    : (_key, args, deadline) => target.client.sendCommand(args, optionsOf(deadline));

  /** One command, its node-redis errors named (see `named`). */
  const command = (deadline: Deadline, key: string | undefined, ...args: string[]) =>
    send(key, args, deadline).catch(rethrowNamed);

  if (onError) {
    state.on("error", record);
    if (isCluster) target.cluster.on("node-error", record);
  }
  return {
    kind: isCluster ? "redis-cluster" : "redis",
    tls: usesTLS(state),

    runScript(name, keys, args, deadline) {
      const key = keys[0];
      // One array, filled in place: every page view comes through here (spreads made three).
      const command = ["EVALSHA", SHAS[name], String(keys.length)];
      for (const k of keys) command.push(k);
      for (const arg of args) command.push(String(arg));
      return send(key, command, deadline).catch((error: unknown) => {
        // A restarted server or a new Cluster node has an empty script cache.
        if (!(error instanceof Error && error.message.startsWith("NOSCRIPT"))) return rethrowNamed(error);
        return send(key, ["EVAL", SCRIPT_SOURCES[name], ...command.slice(2)], deadline).catch(rethrowNamed);
      });
    },
    waitForReplicas: (replicas, timeoutMs, deadline) =>
      command(deadline, undefined, "WAIT", String(replicas), String(timeoutMs)) as Promise<number>,
    del: (key, deadline) => command(deadline, key, "DEL", key) as Promise<number>,
    exists: (key, deadline) => command(deadline, key, "EXISTS", key) as Promise<number>,
    hgetall: (key, deadline) => command(deadline, key, "HGETALL", key).then(hashOf),
    get: (key, deadline) => command(deadline, key, "GET", key) as Promise<string | null>,
    ping: (deadline) => command(deadline, undefined, "PING"),
    clusterReady: () => isCluster && ready(),
    clusterMasters: async () => {
      if (!isCluster) throw new Error("not a cluster");
      return clusterMasters(target.cluster);
    },
    topology: () => (isCluster ? clusterTopology(target.cluster) : clientTopology(target.client)),
    offlineReason() {
      if (closed) return "the store is closed";
      const what = isCluster ? "node-redis cluster" : "node-redis client";
      if (!state.isOpen) return `the ${what} is closed (or was never connected)`;
      if (!ready()) return `not connected (the ${what} is not ready)`;
      return undefined;
    },
    lastError: () => last,
    clearLastError: () => {
      last = undefined;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (onError) {
        state.off("error", record);
        if (isCluster) target.cluster.off("node-error", record);
      }
    },
  };
}

/** The master of every hash slot, each pinged on its own node client. */
function clusterMasters(cluster: NodeRedisCluster): ClusterMaster[] {
  const owners = new Map<string, NodeRedisClusterNode>();
  let covered = 0;
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
    const master = cluster.slots[slot]?.master;
    if (master === undefined) continue;
    covered += 1;
    owners.set(master.address, master);
  }
  if (covered < CLUSTER_SLOTS)
    throw new Error(`only ${covered} of ${CLUSTER_SLOTS} hash slots have a master`);
  return [...owners.values()].map((master) => ({
    address: master.address,
    ping: (deadline) =>
      (async () => {
        const client = await cluster.nodeClient(master);
        // A node client that is reconnecting would queue the PING until the timeout: say so now.
        if (!client.isReady) throw new Error(`the master ${master.address} is not connected`);
        return client.sendCommand(["PING"], {
          abortSignal: abortSignalOf(deadline),
          typeMapping: DEFAULT_TYPES,
          timeout: 0,
        });
      })().catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        if (message.includes(master.address)) throw error;
        throw new Error(`the master ${master.address} failed: ${message}`, { cause: error });
      }),
  }));
}

/**
 * The deadline's signal as node-redis's `abortSignal`: a DeadlineSignal has the part of AbortSignal that
 * node-redis (v5 and v6) uses, `aborted` and `add/removeEventListener("abort")`, without EventTarget's
 * cost (see command-deadline.ts); the availability tests prove queued commands are still withdrawn.
 */
function abortSignalOf(deadline: Deadline): AbortSignal {
  return deadline.signal as unknown as AbortSignal;
}

/**
 * Whether a client may map reply types its own way (`createClient({ commandOptions: { typeMapping } })`
 * or a `withTypeMapping()` proxy): then the store asks for the default types on every call. node-redis
 * v5 and v6 keep a client's command options in `_commandOptions`; where that cannot be read, assume yes.
 */
function mapsReplyTypes(client: NodeRedisClient): boolean {
  if (!("_commandOptions" in client)) return true;
  const options = (client as { _commandOptions?: { typeMapping?: unknown } })._commandOptions;
  return options?.typeMapping !== undefined;
}

/** The caller's one client; its address as its options give it (a URL without credentials, or socket). */
function clientTopology(client: NodeRedisClient): Topology {
  const options = (client as { options?: { url?: string; socket?: { host?: string; port?: number } } })
    .options;
  let address = "";
  if (options?.socket?.host !== undefined || options?.socket?.port !== undefined) {
    address = `${options.socket.host ?? "localhost"}:${options.socket.port ?? 6379}`;
  } else if (options?.url !== undefined) {
    try {
      const url = new URL(options.url);
      address = `${url.hostname}:${url.port || 6379}`;
    } catch {
      // not a URL we can read: no address
    }
  }
  const node: ServerNode = {
    address,
    connected: client.isReady,
    command: (args, deadline) =>
      client
        .sendCommand([...args], {
          abortSignal: abortSignalOf(deadline),
          typeMapping: DEFAULT_TYPES,
          timeout: 0,
        })
        .catch(rethrowNamed),
  };
  return { nodes: [node] };
}

/** Every master of the slot map, each reached on its own node client. */
function clusterTopology(cluster: NodeRedisCluster): Topology {
  const slotOwners: (string | undefined)[] = [];
  const masters = new Map<string, NodeRedisClusterNode>();
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
    const master = cluster.slots[slot]?.master;
    slotOwners.push(master?.address);
    if (master !== undefined) masters.set(master.address, master);
  }
  const nodes = [...masters.values()].map(
    (master): ServerNode => ({
      address: master.address,
      // node-redis says only once asked for the node's client; the probe finds out.
      connected: true,
      command: async (args, deadline) => {
        const client = await cluster.nodeClient(master);
        if (!client.isReady) throw new Error(`the master ${master.address} is not connected`);
        return client
          .sendCommand([...args], {
            abortSignal: abortSignalOf(deadline),
            typeMapping: DEFAULT_TYPES,
            timeout: 0,
          })
          .catch(rethrowNamed);
      },
    }),
  );
  return { nodes, slotOwners };
}

/** HGETALL's reply: a flat array in RESP2, a map (an object by default) in RESP3. */
function hashOf(reply: unknown): Record<string, string> {
  if (Array.isArray(reply)) {
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) hash[String(reply[i])] = String(reply[i + 1]);
    return hash;
  }
  if (reply instanceof Map) return Object.fromEntries([...reply].map(([k, v]) => [String(k), String(v)]));
  return { ...(reply as Record<string, string>) };
}

/**
 * node-redis's TimeoutError (its own command timeout, shorter than ours) has an empty message: name
 * it, so that the store's error says what happened.
 */
function rethrowNamed(error: unknown): never {
  if (error instanceof Error && error.message === "") {
    throw new Error(`${error.constructor.name} (node-redis)`, { cause: error });
  }
  throw error;
}

/** Whether the client connects with TLS (`socket.tls`, or a rediss:// URL), for the runner's hints. */
function usesTLS(state: unknown): boolean {
  const options = (state as { options?: { socket?: { tls?: unknown }; url?: string; defaults?: unknown } })
    .options;
  if (options?.socket?.tls === true || options?.url?.startsWith("rediss:")) return true;
  const defaults = options?.defaults as { socket?: { tls?: unknown } } | undefined;
  return defaults?.socket?.tls === true;
}
