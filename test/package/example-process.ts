import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";

/**
 * An example app as a child process: started with PORT=0 (the system picks a free port, read back from
 * the app's "Listening on" line), stopped with SIGTERM, which must end it cleanly (exit code 0).
 */

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const LISTENING = /Listening on http:\/\/localhost:(\d+)/;

export interface ExampleOptions {
  /** The example's server.js. */
  entry: string;
  cwd: string;
  /** Added to a minimal environment (PATH only), e.g. `{ REDIS_URL }`. */
  env?: Record<string, string>;
  /** Node options before the entry, e.g. `["--import", hooks]`. */
  nodeArgs?: string[];
}

export interface ExampleProcess {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Sends SIGTERM and resolves with the exit code (null when it had to be killed). */
  stop(): Promise<number | null>;
}

export async function startExample(options: ExampleOptions): Promise<ExampleProcess> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.entry], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? "", PORT: "0", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const chunks: string[] = [];
  const output = () => chunks.join("");
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk));
  const exited = once(child, "exit").then(([code]) => code as number | null);

  try {
    const port = await waitForPort(child, output, exited);
    return {
      url: `http://127.0.0.1:${port}`,
      output,
      stop: () => stop(child, exited),
    };
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
}

async function waitForPort(
  child: ChildProcess,
  output: () => string,
  exited: Promise<number | null>,
): Promise<number> {
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const port = LISTENING.exec(output())?.[1];
    if (port !== undefined) return Number(port);
    if (hasExited) {
      throw new Error(`the example exited with code ${child.exitCode} before listening:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the example printed no "Listening on" line within ${START_TIMEOUT_MS} ms:\n${output()}`);
}

async function stop(child: ChildProcess, exited: Promise<number | null>): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts the example, runs `checks` on its URL, then stops it with SIGTERM, which must exit with 0. A
 * failure carries the example's output.
 */
export async function withExample(
  options: ExampleOptions,
  checks: (url: string) => Promise<void>,
): Promise<void> {
  const example = await startExample(options);
  let failure: unknown;
  try {
    await checks(example.url);
  } catch (error) {
    failure = error;
  }
  const code = await example.stop();
  if (failure !== undefined) {
    if (failure instanceof Error) failure.message += `\n--- the example's output:\n${example.output()}`;
    throw failure;
  }
  if (code !== 0) {
    throw new Error(`SIGTERM should end the example with exit code 0, got ${code}:\n${example.output()}`);
  }
}
