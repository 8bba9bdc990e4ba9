/**
 * Each benchmarked server runs as its own child process so that its CPU time and memory can be read
 * from /proc, and so that no case shares a heap or an event loop with the load generator or another case.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { request } from "./http.js";
import { sleep } from "./net.js";

export interface ServerProcess {
  name: string;
  pid: number;
  port: number;
  baseURL: string;
  /** The last lines the server wrote, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  /** Arguments to `node` (the script and its flags). */
  nodeArgs: string[];
  /** A command that runs `node` under it, with its own arguments (e.g. valgrind and its flags). */
  launcher?: readonly string[];
  port: number;
  env: Record<string, string | undefined>;
  timeoutMs?: number;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** No server outlives the runner, however it ends (an uncaught error, Ctrl-C). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => process.exit(130));
  }
}

export async function startServerProcess(options: StartOptions): Promise<ServerProcess> {
  const { name, nodeArgs, launcher = [], port, env, timeoutMs = 30_000 } = options;
  const [command, ...args] = [...launcher, process.execPath, ...nodeArgs] as [string, ...string[]];
  const child: ChildProcess = spawn(command, args, {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  running.add(child);
  installExitHook();
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      running.delete(child);
      resolve();
    }),
  );
  const baseURL = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before answering:\n${output}`);
    }
    try {
      await request(`${baseURL}/`); // any status: the server is up
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`${name} did not answer on ${baseURL} within ${timeoutMs} ms:\n${output}`);
      }
      await sleep(100);
    }
  }
  if (child.pid === undefined) throw new Error(`${name} has no pid`);
  return {
    name,
    pid: child.pid,
    port,
    baseURL,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
