import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer, type Socket } from "node:net";
import { delimiter, join } from "node:path";
import type { ConnectionOptions } from "node:tls";
import { type TestCertificates, tlsServerArgs } from "./redis-tls.js";
import { respCommand } from "./resp-client.js";

/**
 * The process side of the harness: finding free ports, running redis-server under a watchdog, waiting
 * until it answers, stopping it. `redis-servers.ts` builds servers, clusters and sentinels on it.
 */

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

export interface Launched {
  child: ChildProcess;
  /** The redis-server process (the child is its watchdog shell). */
  redisPid: () => number | undefined;
  exited: Promise<void>;
  hasExited: () => boolean;
  output: () => string;
}

const running = new Set<Launched>();
let exitHookInstalled = false;

/**
 * The arguments every server gets: no persistence, loopback only. With `certificates`, `port` is the
 * TLS port and there is no plain one.
 */
export const serverArgs = (port: number, certificates?: TestCertificates): string[] => [
  ...(certificates ? tlsServerArgs(port, certificates) : ["--port", String(port)]),
  "--save",
  "",
  "--appendonly",
  "no",
  "--bind",
  "127.0.0.1",
];

/**
 * Launches redis-server with `argsFor(port)` on a free port (or the `pinned` one) and resolves once it
 * answers PING, over TLS with the `tls` options when given.
 */
export async function launchOnFreePort(
  pinned: number | undefined,
  argsFor: (port: number) => string[],
  needsBusPort: boolean,
  tls?: ConnectionOptions,
): Promise<{ port: number; server: Launched }> {
  const redisServer = requireExecutable(serverExecutable());
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < (pinned === undefined ? PORT_ATTEMPTS : 1); attempt++) {
    const port = pinned ?? (await freePort(needsBusPort));
    const server = launch(redisServer, argsFor(port));
    try {
      await waitUntilAnswering(server, port, tls);
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
async function waitUntilAnswering(server: Launched, port: number, tls?: ConnectionOptions): Promise<void> {
  await waitFor(`redis-server on port ${port} to answer PING`, async () => {
    if (server.hasExited()) {
      throw new Error(`redis-server on port ${port} exited while starting:\n${server.output()}`);
    }
    const target = { host: "127.0.0.1", port, ...(tls ? { tls } : {}) };
    const reply = await respCommand(target, "PING").catch(() => undefined);
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

export async function stopLaunched(server: Launched): Promise<void> {
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
export async function freePort(needsBusPort = false): Promise<number> {
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

/**
 * The server the tests run: redis-server, or another that speaks its protocol and takes its
 * arguments, named by LATCHKEY_TEST_SERVER (CI runs the Redis suites again on `valkey-server`).
 */
export function serverExecutable(): string {
  return process.env.LATCHKEY_TEST_SERVER || "redis-server";
}

export function requireExecutable(name: string): string {
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

export async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${START_TIMEOUT_MS} ms waiting for ${what}`);
}
