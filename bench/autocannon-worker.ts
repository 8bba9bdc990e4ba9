/**
 * Runs autocannon in its own process (the fallback when wrk is not installed) and prints one LoadResult
 * as JSON. Usage: node autocannon-worker.js '{"url":…,"cookie":…,"connections":50,"durationSeconds":10}'
 */
import { createRequire } from "node:module";
import type { LoadOptions, LoadResult } from "./load.js";

interface AutocannonResult {
  requests: { total: number };
  duration: number;
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  headers: Record<string, string>;
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;
const options = JSON.parse(process.argv[2] ?? "{}") as LoadOptions;
const result = await autocannon({
  url: options.url,
  connections: options.connections,
  duration: options.durationSeconds,
  headers: { cookie: options.cookie },
});
const output: LoadResult = {
  tool: "autocannon",
  requests: result.requests.total,
  seconds: result.duration,
  requestsPerSecond: result.requests.total / result.duration,
  p50Ms: result.latency.p50,
  p99Ms: result.latency.p99,
  failures: result.non2xx + result.errors + result.timeouts,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
