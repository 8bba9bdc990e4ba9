/**
 * The load generator: wrk (C, one thread, the least CPU per request of the generators tried; the README's
 * figures are wrk's), in its own process, never sharing one with a server.
 */
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface LoadOptions {
  url: string;
  cookie: string;
  connections: number;
  durationSeconds: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses with a status other than 2xx/3xx, and socket errors. */
  failures: number;
}

let wrkPath: string | undefined;

/** The wrk binary; throws when it is not installed. */
function findWrk(): string {
  if (wrkPath === undefined) {
    try {
      wrkPath = execFileSync("sh", ["-c", "command -v wrk"], { encoding: "utf8" }).trim();
    } catch {
      wrkPath = "";
    }
  }
  if (!wrkPath) throw new Error("wrk is not on PATH: install it (apt-get install wrk)");
  return wrkPath;
}

export function wrkVersion(): string {
  try {
    execFileSync(findWrk(), ["--version"], { encoding: "utf8" });
  } catch (error) {
    // wrk --version prints its banner and exits with status 1.
    const out = String((error as { stdout?: string }).stdout ?? "");
    const version = /^wrk\s+(\S+)/.exec(out)?.[1];
    if (version) return `wrk ${version}`;
  }
  return "wrk";
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { url, cookie, connections, durationSeconds } = options;
  const { stdout } = await execFileAsync(
    findWrk(),
    ["-t1", `-c${connections}`, `-d${durationSeconds}s`, "--latency", "-H", `Cookie: ${cookie}`, url],
    { timeout: (durationSeconds + 30) * 1000, maxBuffer: 16 * 1024 * 1024 },
  );
  return parseWrk(stdout);
}

const TO_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) return Number.NaN;
  return Number(match[1]) * (TO_MS[match[2] as string] ?? Number.NaN);
}

/** Reads wrk's text output (with --latency). */
function parseWrk(out: string): LoadResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (!total || !rps || !p50 || !p99) throw new Error(`cannot read wrk output:\n${out}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    requests: Number(total[1]),
    seconds: durationMs(`${total[2]}${total[3]}`) / 1000,
    requestsPerSecond: Number(rps[1]),
    p50Ms: durationMs(p50[1] as string),
    p99Ms: durationMs(p99[1] as string),
    failures: socketErrors + (non2xx ? Number(non2xx[1]) : 0),
  };
}
