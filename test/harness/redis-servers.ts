import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  type Launched,
  launchOnFreePort,
  requireExecutable,
  serverArgs,
  stopLaunched,
  waitFor,
} from "./redis-process.js";
import { createTestCertificates, probeTLSOptions, type TestCertificates } from "./redis-tls.js";
import { RespError, type RespReply, respCommand, respTargetOf } from "./resp-client.js";

/**
 * Real Redis servers for tests and the benchmark: `redis-server` child processes on free ports, never
 * the shared Redis on 6379, never Docker. Every server dies with the test process, however it ends.
 *
 * @example
 * const redis = await startRedisServer();
 * after(() => redis.stop());
 * const store = createRedisStore({ url: redis.url });
 *
 * // TLS only, as ElastiCache with in-transit encryption, with a throwaway CA:
 * const secure = await startTLSRedisServer();
 * const tlsStore = createRedisStore({ url: secure.url, tls: { ca: secure.caPem } });
 */

export interface RedisServerOptions {
  /**
   * Extra `redis-server` arguments, e.g. `["--requirepass", "secret"]`. A `--port` here pins the port
   * (to restart a server where a client expects it) instead of picking a free one.
   */
  args?: string[];
  /** The port of a master on 127.0.0.1 to replicate (`--replicaof`): resolves once the sync is done. */
  replicaOf?: number;
}

export interface RedisServerHandle {
  port: number;
  /** `redis://127.0.0.1:<port>` (without credentials, even when `args` set a password). */
  url: string;
  /** Stops the server and resolves when its process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Number of masters. Default 3, at least 3 (what `redis-cli --cluster` needs). */
  masters?: number;
  /** Replicas of each master. Default 0. */
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a master may not answer before its replica takes over. Default 2000. */
  nodeTimeoutMs?: number;
}

export interface RedisClusterHandle {
  /** Every node's port: the masters first, then the replicas (as `redis-cli --cluster create` assigns them). */
  ports: number[];
  urls: string[];
  /** Stops every node and removes their temporary directory. */
  stop(): Promise<void>;
}

/** What the TLS variants take on top: the names of the server certificate. */
export interface TLSServerOptions {
  /**
   * IP addresses and DNS names the server certificate is valid for (the first is also its CN).
   * Default `["127.0.0.1", "localhost"]`. Leave one out to test a client's name check.
   */
  certificateNames?: readonly string[];
}

export interface TLSRedisServerHandle extends RedisServerHandle {
  /** `port` is the TLS port; the server has no plain one. */
  port: number;
  /** `rediss://127.0.0.1:<port>` (without credentials). */
  url: string;
  /** PEM of the throwaway CA that signed the server certificate: pass it as `tls: { ca }`. */
  caPem: string;
}

/**
 * Starts one `redis-server` on a free port and resolves once it answers PING. Unless `args` name a
 * `--dir`, it runs in a temporary directory of its own, removed when it stops: a replica's full sync
 * writes `dump.rdb` to both servers' directories, and a server started later in the same directory
 * would load it (the working tree's, once: a later benchmark's "fresh" Redis held the last one's data).
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const args = [
    ...(options.args ?? []),
    ...(options.replicaOf === undefined ? [] : ["--replicaof", "127.0.0.1", String(options.replicaOf)]),
  ];
  const pinned = portArgument("startRedisServer", args, "--port");
  const dir = args.includes("--dir") ? undefined : await mkdtemp(join(tmpdir(), "latchkey-redis-"));
  const removeDir = async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  };
  let launched: Awaited<ReturnType<typeof launchOnFreePort>>;
  try {
    launched = await launchOnFreePort(
      pinned,
      (port) => [...serverArgs(port), ...(dir === undefined ? [] : ["--dir", dir]), ...args],
      false,
    );
  } catch (error) {
    await removeDir();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  const handle: RedisServerHandle = {
    port: launched.port,
    url: `redis://127.0.0.1:${launched.port}`,
    stop: () => {
      stopped ??= stopLaunched(launched.server).then(removeDir);
      return stopped;
    },
  };
  if (options.replicaOf !== undefined) {
    try {
      await waitFor(`the replica on port ${handle.port} to sync`, async () => {
        const info = await respCommand({ host: "127.0.0.1", port: handle.port }, "INFO", "replication");
        return typeof info === "string" && info.includes("master_link_status:up");
      });
    } catch (error) {
      await handle.stop();
      throw error;
    }
  }
  return handle;
}

/**
 * Starts one TLS-only `redis-server` (`--port 0 --tls-port <free>`, no client certificates required),
 * as ElastiCache with in-transit encryption. A throwaway CA and server certificate are made with
 * openssl in a temporary directory that `stop()` removes. A `--tls-port` in `args` pins the port.
 */
export async function startTLSRedisServer(
  options: RedisServerOptions & TLSServerOptions = {},
): Promise<TLSRedisServerHandle> {
  const args = options.args ?? [];
  const pinned = portArgument("startTLSRedisServer", args, "--tls-port");
  const dir = await mkdtemp(join(tmpdir(), "latchkey-tls-"));
  try {
    const certificates = await createTestCertificates(dir, options.certificateNames);
    const { port, server } = await launchOnFreePort(
      pinned,
      (port) => [...serverArgs(port, certificates), ...args],
      false,
      probeTLSOptions(certificates),
    );
    return {
      port,
      url: `rediss://127.0.0.1:${port}`,
      caPem: certificates.caPem,
      stop: async () => {
        await stopLaunched(server);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

export interface TLSRedisClusterOptions extends RedisClusterOptions, TLSServerOptions {
  /**
   * A host name every node announces instead of its IP address (`cluster-announce-hostname` with
   * `cluster-preferred-endpoint-type hostname`), as ElastiCache does with TLS: CLUSTER SLOTS and
   * MOVED then name that host. It must resolve to 127.0.0.1, e.g. "localhost".
   */
  announceHostname?: string;
}

export interface TLSRedisClusterHandle extends RedisClusterHandle {
  /** `rediss://127.0.0.1:<port>` for each master. */
  urls: string[];
  /** PEM of the throwaway CA that signed the nodes' certificate: pass it as `tls: { ca }`. */
  caPem: string;
}

/**
 * Starts a Redis Cluster of `masters` nodes (and `replicasPerMaster` replicas of each) in a temporary
 * directory, joins them with `redis-cli --cluster create`, and resolves once every node reports
 * `cluster_state:ok` and every replica is in sync with its master.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const { ports, stop } = await startCluster("startRedisCluster", options.masters, {
    replicasPerMaster: options.replicasPerMaster ?? 0,
    nodeTimeoutMs: options.nodeTimeoutMs ?? 2000,
  });
  return { ports, urls: ports.map((p) => `redis://127.0.0.1:${p}`), stop };
}

/**
 * As `startRedisCluster`, with TLS only on every node, for clients and on the cluster bus (`--port 0
 * --tls-port <free> --tls-cluster yes --tls-replication yes`), as ElastiCache with in-transit
 * encryption. The nodes share one throwaway certificate (see `startTLSRedisServer`).
 */
export async function startTLSRedisCluster(
  options: TLSRedisClusterOptions = {},
): Promise<TLSRedisClusterHandle> {
  const dir = await mkdtemp(join(tmpdir(), "latchkey-tls-"));
  try {
    const certificates = await createTestCertificates(dir, options.certificateNames);
    const announce = options.announceHostname;
    const extraArgs =
      announce === undefined
        ? []
        : ["--cluster-announce-hostname", announce, "--cluster-preferred-endpoint-type", "hostname"];
    const { ports, stop } = await startCluster("startTLSRedisCluster", options.masters, {
      certificates,
      extraArgs,
    });
    return {
      ports,
      urls: ports.map((p) => `rediss://127.0.0.1:${p}`),
      caPem: certificates.caPem,
      stop: async () => {
        await stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function startCluster(
  caller: string,
  mastersOption: number | undefined,
  {
    certificates,
    extraArgs = [],
    replicasPerMaster = 0,
    nodeTimeoutMs = 2000,
  }: {
    certificates?: TestCertificates;
    extraArgs?: string[];
    replicasPerMaster?: number;
    nodeTimeoutMs?: number;
  },
): Promise<{ ports: number[]; stop: () => Promise<void> }> {
  const masters = mastersOption ?? 3;
  if (!Number.isInteger(masters) || masters < 3) {
    throw new Error(`${caller}: masters must be a whole number >= 3, got ${masters}`);
  }
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new Error(`${caller}: replicasPerMaster must be a whole number >= 0, got ${replicasPerMaster}`);
  }
  const redisCli = requireExecutable("redis-cli");
  const tls = certificates ? probeTLSOptions(certificates) : undefined;
  const dir = await mkdtemp(join(tmpdir(), "latchkey-cluster-"));
  const nodes: Launched[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map(stopLaunched));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      const started = await launchOnFreePort(
        undefined,
        (port) => [
          ...serverArgs(port, certificates),
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(dir, `nodes-${port}.conf`),
          "--cluster-node-timeout",
          String(nodeTimeoutMs),
          // A replica that was cut off from its master for a while may still take over (the default
          // factor refuses one whose data is older than 10 node timeouts).
          "--cluster-replica-validity-factor",
          "0",
          "--dir",
          dir,
          ...extraArgs,
        ],
        true,
        tls,
      );
      nodes.push(started.server);
      ports.push(started.port);
    }
    await promisify(execFile)(
      redisCli,
      [
        ...(certificates ? ["--tls", "--cacert", certificates.caFile] : []),
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        String(replicasPerMaster),
        "--cluster-yes",
      ],
      { timeout: 30_000 },
    ).catch((error: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(
        `redis-cli --cluster create failed: ${error.message}\n${error.stdout ?? ""}${error.stderr ?? ""}`,
      );
    });
    await waitFor(`cluster_state:ok on ports ${ports.join(", ")}`, async () => {
      for (const port of ports) {
        const target = { host: "127.0.0.1", port, ...(tls ? { tls } : {}) };
        const info = await respCommand(target, "CLUSTER", "INFO").catch(() => "");
        if (typeof info !== "string" || !info.includes("cluster_state:ok")) return false;
        if (replicasPerMaster === 0) continue;
        const replication = await respCommand(target, "INFO", "replication").catch(() => "");
        if (typeof replication !== "string") return false;
        if (replication.includes("role:slave") && !replication.includes("master_link_status:up"))
          return false;
      }
      return true;
    });
    return { ports, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface RedisSentinelOptions {
  /** Port of the master to monitor (e.g. a `startRedisServer()` handle's port). */
  masterPort: number;
  /** The master group name clients ask for. Default "mymaster". */
  masterName?: string;
  /** The master's password, when it has one (`--requirepass`). */
  masterPassword?: string;
  /** `down-after-milliseconds`: how long the master may not answer before it is failed over. Default 1000. */
  downAfterMs?: number;
}

/**
 * Starts one Redis Sentinel (quorum 1) that monitors the master on `masterPort`. Its config file lives
 * in a temporary directory (Sentinel rewrites it), removed by `stop()`.
 */
export async function startRedisSentinel(options: RedisSentinelOptions): Promise<RedisServerHandle> {
  const name = options.masterName ?? "mymaster";
  const dir = await mkdtemp(join(tmpdir(), "latchkey-sentinel-"));
  const config = join(dir, "sentinel.conf");
  const lines = [
    `sentinel monitor ${name} 127.0.0.1 ${options.masterPort} 1`,
    `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
    // Three sentinels that see the master fail at once may split their votes for the leader; a sentinel
    // tries again only after twice this (default 3 minutes, so 6): one split vote outlasted a test's
    // 65-second wait for the promotion (CI, Node 22). 10 s: a second election within 20 s.
    `sentinel failover-timeout ${name} 10000`,
    ...(options.masterPassword === undefined ? [] : [`sentinel auth-pass ${name} ${options.masterPassword}`]),
  ];
  await writeFile(config, `${lines.join("\n")}\n`);
  try {
    const { port, server } = await launchOnFreePort(
      undefined,
      (port) => [config, "--sentinel", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir],
      false,
    );
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      stop: async () => {
        await stopLaunched(server);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Calls per command since the server started (or since `CONFIG RESETSTAT`), from `INFO commandstats`:
 * `{ evalsha: 12, hgetall: 3, ... }`. Subcommands keep Redis's names (`"client|setname"`).
 * The connection it opens adds only its own `auth`/`info` calls.
 */
export async function redisCommandCalls(url: string): Promise<Record<string, number>> {
  const reply = await respCommand(respTargetOf(url), "INFO", "commandstats");
  if (typeof reply !== "string") throw new Error(`INFO commandstats failed: ${describe(reply)}`);
  const calls: Record<string, number> = {};
  for (const match of reply.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1] as string] = Number(match[2]);
  }
  return calls;
}

function portArgument(
  caller: string,
  args: readonly string[],
  flag: "--port" | "--tls-port",
): number | undefined {
  const index = args.lastIndexOf(flag);
  if (index < 0) return undefined;
  const port = Number(args[index + 1]);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new Error(`${caller}: "${flag}" needs a port number, got ${String(args[index + 1])}`);
  }
  return port;
}

function describe(reply: RespReply): string {
  return reply instanceof RespError ? reply.message : JSON.stringify(reply);
}
