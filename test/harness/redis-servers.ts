import { type ChildProcess, execFile, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { RespError, type RespReply, respCommand, respTargetOf } from "./resp-client.js";

/**
 * Real Redis servers for tests and the benchmark: `redis-server` child processes on free ports, never
 * the shared Redis on 6379, never Docker. Every server dies with the test process, however it ends.
 *
 * @example
 * const redis = await startRedisServer();
 * after(() => redis.stop());
 * const store = createRedisStore({ url: redis.url });
 */

export interface RedisServerOptions {
  /**
   * Extra `redis-server` arguments, e.g. `["--requirepass", "secret"]`. A `--port` here pins the port
   * (to restart a server where a client expects it) instead of picking a free one.
   */
  args?: string[];
}

export interface RedisServerHandle {
  port: number;
  /** `redis://127.0.0.1:<port>` (without credentials, even when `args` set a password). */
  url: string;
  /** Stops the server and resolves when its process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Number of masters, without replicas. Default 3, at least 3 (what `redis-cli --cluster` needs). */
  masters?: number;
}

export interface RedisClusterHandle {
  ports: number[];
  urls: string[];
  /** Stops every node and removes their temporary directory. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const PORT_ATTEMPTS = 8;
/** Redis Cluster talks to its peers on the client port + 10000, which must be free and valid too. */
const CLUSTER_BUS_OFFSET = 10_000;

/**
 * The server runs under a small `sh` watchdog: the shell starts redis-server, prints its pid, and a
 * background `cat` waits for our stdin pipe to close. That pipe closes when `stop()` ends it and also
 * when this process dies in any way (even SIGKILL, where no 'exit' handler runs), so no server outlives
 * its test. Each command of the watchdog is POSIX sh.
 */
const WATCHDOG = [
  "exec 3<&0",
  "server=$1; shift",
  '"$server" "$@" </dev/null 3<&- &',
  "pid=$!",
  'echo "harness-pid $pid"',
  '{ cat <&3 >/dev/null; kill -TERM "$pid" 2>/dev/null; } &',
  "watcher=$!",
  "exec 3<&-",
  'wait "$pid"',
  "status=$?",
  'kill "$watcher" 2>/dev/null',
  'exit "$status"',
].join("\n");

interface Launched {
  child: ChildProcess;
  /** The redis-server process (the child is its watchdog shell). */
  redisPid: () => number | undefined;
  exited: Promise<void>;
  hasExited: () => boolean;
  output: () => string;
}

const running = new Set<Launched>();
let exitHookInstalled = false;

/** Starts one `redis-server` on a free port and resolves once it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const args = options.args ?? [];
  const pinned = portArgument(args);
  const launched = await launchOnFreePort(pinned, (port) => [...serverArgs(port), ...args], false);
  return {
    port: launched.port,
    url: `redis://127.0.0.1:${launched.port}`,
    stop: () => stopLaunched(launched.server),
  };
}

/**
 * Starts a Redis Cluster of `masters` nodes (no replicas) in a temporary directory, joins them with
 * `redis-cli --cluster create`, and resolves once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 3) {
    throw new Error(`startRedisCluster: masters must be a whole number >= 3, got ${masters}`);
  }
  const redisCli = requireExecutable("redis-cli");
  const dir = await mkdtemp(join(tmpdir(), "latchkey-cluster-"));
  const nodes: Launched[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map(stopLaunched));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) {
      const started = await launchOnFreePort(
        undefined,
        (port) => [
          ...serverArgs(port),
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(dir, `nodes-${port}.conf`),
          "--cluster-node-timeout",
          "2000",
          "--dir",
          dir,
        ],
        true,
      );
      nodes.push(started.server);
      ports.push(started.port);
    }
    await promisify(execFile)(
      redisCli,
      [
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        "0",
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
        const info = await respCommand({ host: "127.0.0.1", port }, "CLUSTER", "INFO").catch(() => "");
        if (typeof info !== "string" || !info.includes("cluster_state:ok")) return false;
      }
      return true;
    });
    return { ports, urls: ports.map((p) => `redis://127.0.0.1:${p}`), stop };
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
    `sentinel down-after-milliseconds ${name} 1000`,
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

/** The arguments every server gets: no persistence, loopback only. */
const serverArgs = (port: number): string[] => [
  "--port",
  String(port),
  "--save",
  "",
  "--appendonly",
  "no",
  "--bind",
  "127.0.0.1",
];

async function launchOnFreePort(
  pinned: number | undefined,
  argsFor: (port: number) => string[],
  needsBusPort: boolean,
): Promise<{ port: number; server: Launched }> {
  const redisServer = requireExecutable("redis-server");
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < (pinned === undefined ? PORT_ATTEMPTS : 1); attempt++) {
    const port = pinned ?? (await freePort(needsBusPort));
    const server = launch(redisServer, argsFor(port));
    try {
      await waitUntilAnswering(server, port);
      return { port, server };
    } catch (error) {
      lastError = error as Error;
      await stopLaunched(server);
      // Another process took the port between our probe and redis-server's bind: try another one.
      if (!server.output().includes("Address already in use")) break;
    }
  }
  throw lastError ?? new Error("redis-server did not start");
}

function launch(redisServer: string, args: string[]): Launched {
  const child = spawn("sh", ["-c", WATCHDOG, "sh", redisServer, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  let pid: number | undefined;
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-16_384);
    if (pid === undefined) {
      const match = /harness-pid (\d+)/.exec(output);
      if (match) pid = Number(match[1]);
    }
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  // Neither the child nor its pipes keep the test process alive; the exit hook and the watchdog clean up.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as Socket).unref?.();
  let exited = false;
  const launched: Launched = {
    child,
    redisPid: () => pid,
    exited: new Promise((resolve) => {
      child.once("exit", () => {
        exited = true;
        running.delete(launched);
        child.stdin?.destroy();
        resolve();
      });
    }),
    hasExited: () => exited,
    output: () => output,
  };
  child.stdin?.on("error", () => {});
  running.add(launched);
  installExitHook();
  return launched;
}

/**
 * Resolves once this server (not another process on the same port) answers: any reply to PING counts,
 * including NOAUTH from a server started with `--requirepass`.
 */
async function waitUntilAnswering(server: Launched, port: number): Promise<void> {
  await waitFor(`redis-server on port ${port} to answer PING`, async () => {
    if (server.hasExited()) {
      throw new Error(`redis-server on port ${port} exited while starting:\n${server.output()}`);
    }
    const reply = await respCommand({ host: "127.0.0.1", port }, "PING").catch(() => undefined);
    if (reply === undefined) return false;
    if (server.output().includes("Ready to accept connections")) return true;
    // Log line not seen (a --loglevel argument may hide it): make sure our process did not just fail
    // to bind because some other server owns the port, which is the one that answered.
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (server.hasExited()) {
      throw new Error(`redis-server on port ${port} exited while starting:\n${server.output()}`);
    }
    return true;
  });
}

async function stopLaunched(server: Launched): Promise<void> {
  if (server.hasExited()) return;
  server.child.stdin?.end();
  const timer = setTimeout(() => killHard(server), STOP_TIMEOUT_MS);
  await server.exited;
  clearTimeout(timer);
}

function killHard(server: Launched): void {
  const pid = server.redisPid();
  try {
    if (pid !== undefined) process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
  server.child.kill("SIGKILL");
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const server of running) killHard(server);
  });
}

/** A port nobody listens on right now (and, for a Cluster node, whose bus port is free too). */
async function freePort(needsBusPort: boolean): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(0);
    if (port === undefined) continue;
    if (!needsBusPort) return port;
    if (port + CLUSTER_BUS_OFFSET <= 65_535 && (await listenOnce(port + CLUSTER_BUS_OFFSET)) !== undefined) {
      return port;
    }
  }
  throw new Error("no free TCP port found on 127.0.0.1");
}

function listenOnce(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

function portArgument(args: readonly string[]): number | undefined {
  const index = args.lastIndexOf("--port");
  if (index < 0) return undefined;
  const port = Number(args[index + 1]);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new Error(`startRedisServer: "--port" needs a port number, got ${String(args[index + 1])}`);
  }
  return port;
}

function requireExecutable(name: "redis-server" | "redis-cli"): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    `${name} not found: install it with \`apt-get install redis-server\` (Debian/Ubuntu), ` +
      "`brew install redis` (macOS) or from https://redis.io/download, and make sure it is on PATH",
  );
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${START_TIMEOUT_MS} ms waiting for ${what}`);
}

function describe(reply: RespReply): string {
  return reply instanceof RespError ? reply.message : JSON.stringify(reply);
}
