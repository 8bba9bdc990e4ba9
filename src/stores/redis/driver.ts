import type { Deadline } from "./command-deadline.js";
import type { ScriptArgument, ScriptName } from "./lua.js";

/** What `store.kind` says: one server, a Cluster, or a master found through Sentinel. */
export type RedisStoreKind = "redis" | "redis-cluster" | "redis-sentinel";

/** One master of a Cluster, for `ping()`: every hash slot's master must answer. */
export interface ClusterMaster {
  /** `host:port`, to say which master failed. */
  readonly address: string;
  ping(deadline: Deadline): Promise<unknown>;
}

/** A server as `health()` and `persistence()` see it: the one server, or one Cluster master. */
export interface ServerNode {
  /** `host:port`, or "" when the client does not say. */
  readonly address: string;
  /** False when the client holds no usable connection to it now (calls would fail). */
  readonly connected: boolean;
  /** A command that names no key (INFO, CONFIG GET) on this server. */
  command(args: readonly string[], deadline: Deadline): Promise<unknown>;
}

/** The servers behind a driver, from its own view (no round trip). */
export interface Topology {
  readonly nodes: readonly ServerNode[];
  /** Cluster only: the address of the master of each hash slot (undefined: no master known). */
  readonly slotOwners?: readonly (string | undefined)[];
}

/**
 * What the store needs of a Redis client library: the store, its records and the command runner use
 * only this, never ioredis or node-redis directly. One implementation per library
 * (`ioredis-driver.ts`, `node-redis-driver.ts`). Every call is one command (or one script) on ONE key
 * or on keys of one slot, so that it can be routed to the master of that slot on a Cluster.
 *
 * A driver does not bound its calls: the command runner does (`command-deadline.ts`), and passes each
 * call the `deadline` that aborts when its time is up, for a library that can withdraw a queued command.
 */
export interface RedisDriver {
  readonly kind: RedisStoreKind;
  /** Whether connections use TLS (to explain failures that mean "TLS on one side only"). */
  readonly tls: boolean;
  /**
   * Runs a store script (`lua.ts`) on `keys` (one slot; the first routes the call): EVALSHA, and
   * EVAL once on NOSCRIPT.
   */
  runScript(
    name: ScriptName,
    keys: readonly string[],
    args: readonly ScriptArgument[],
    deadline: Deadline,
  ): Promise<unknown>;
  /**
   * WAIT: how many replicas hold every write sent so far on the connection that carried the last
   * script, waiting at most `timeoutMs` for `replicas` of them. Standalone and Sentinel only.
   */
  waitForReplicas(replicas: number, timeoutMs: number, deadline: Deadline): Promise<number>;
  del(key: string, deadline: Deadline): Promise<number>;
  exists(key: string, deadline: Deadline): Promise<number>;
  /** The hash at `key`, `{}` when there is none. */
  hgetall(key: string, deadline: Deadline): Promise<Record<string, string>>;
  get(key: string, deadline: Deadline): Promise<string | null>;
  /** PING on the client (on a Cluster: on any one node). */
  ping(deadline: Deadline): Promise<unknown>;
  /** True for a Cluster client that knows its slot map: then `ping()` pings every master instead. */
  clusterReady(): boolean;
  /**
   * The master of every hash slot. Throws when a slot has no master or its master is not connected:
   * the Cluster then answers for some sessions and not others, which is not "ready".
   */
  clusterMasters(): Promise<readonly ClusterMaster[]>;
  /** The servers (Cluster: every master of the slot map), for health and persistence checks. */
  topology(): Topology;
  /**
   * Why calls must fail at once, or undefined when they may be sent: the store is closed, or the
   * connection is known to be down.
   */
  offlineReason(): string | undefined;
  /** The last connection error the client reported since the last call that succeeded, if heard. */
  lastError(): Error | undefined;
  /** A call succeeded: earlier connection errors are history. */
  clearLastError(): void;
  /** Quits an owned client (bounded in time) or detaches from a caller's client, which stays open. */
  close(): Promise<void>;
}

/** Number of hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16_384;
