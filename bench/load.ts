/**
 * The load generator: wrk when it is on PATH (C, one thread, least CPU per request), otherwise
 * autocannon in a separate process. Either way the generator never shares a process with a server.
 */
import { execFile, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export type LoadTool = "wrk" | "autocannon";

export interface LoadOptions {
  tool: LoadTool;
  url: string;
  cookie: string;
  connections: number;
  durationSeconds: number;
}

export interface LoadResult {
  tool: string;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses with a status other than 2xx/3xx, and socket errors. */
  failures: number;
}

let wrkPath: string | null | undefined;

/** The wrk binary, or null when it is not installed. */
export function findWrk(): string | null {
  if (wrkPath === undefined) {
    try {
      wrkPath = execFileSync("sh", ["-c", "command -v wrk"], { encoding: "utf8" }).trim() || null;
    } catch {
      wrkPath = null;
    }
  }
  return wrkPath;
}

/** wrk when it is on PATH, else autocannon. */
export function defaultLoadTool(): LoadTool {
  return findWrk() ? "wrk" : "autocannon";
}

export function loadToolVersion(tool: LoadTool): string {
  const wrk = findWrk();
  if (tool === "autocannon" || !wrk) return `autocannon ${autocannonVersion()}`;
  try {
    execFileSync(wrk, ["--version"], { encoding: "utf8" });
  } catch (error) {
    // wrk --version prints its banner and exits with status 1.
    const out = String((error as { stdout?: string }).stdout ?? "");
    const version = /^wrk\s+(\S+)/.exec(out)?.[1];
    if (version) return `wrk ${version}`;
  }
  return "wrk";
}

function autocannonVersion(): string {
  try {
    const path = fileURLToPath(import.meta.resolve("autocannon/package.json"));
    return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.tool === "autocannon") return runAutocannon(options);
  const wrk = findWrk();
  if (!wrk) throw new Error("wrk is not on PATH: install it (apt-get install wrk) or use --tool autocannon");
  return runWrk(wrk, options);
}

async function runWrk(wrk: string, options: LoadOptions): Promise<LoadResult> {
  const { url, cookie, connections, durationSeconds } = options;
  const out = await run(
    wrk,
    ["-t1", `-c${connections}`, `-d${durationSeconds}s`, "--latency", "-H", `Cookie: ${cookie}`, url],
    (durationSeconds + 30) * 1000,
  );
  return parseWrk(out);
}

const TO_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) return Number.NaN;
  return Number(match[1]) * (TO_MS[match[2] as string] ?? Number.NaN);
}

/** Reads wrk's text output (with --latency). */
export function parseWrk(out: string): LoadResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (!total || !rps || !p50 || !p99) throw new Error(`cannot read wrk output:\n${out}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    tool: "wrk",
    requests: Number(total[1]),
    seconds: durationMs(`${total[2]}${total[3]}`) / 1000,
    requestsPerSecond: Number(rps[1]),
    p50Ms: durationMs(p50[1] as string),
    p99Ms: durationMs(p99[1] as string),
    failures: socketErrors + (non2xx ? Number(non2xx[1]) : 0),
  };
}

async function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  const worker = fileURLToPath(new URL("./autocannon-worker.js", import.meta.url));
  const out = await run(
    process.execPath,
    [worker, JSON.stringify(options)],
    (options.durationSeconds + 30) * 1000,
  );
  return JSON.parse(out) as LoadResult;
}
