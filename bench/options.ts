/** Command-line options of `npm run bench` (`node dist/bench/run.js [options]`). */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ALL_CASES, type CaseId } from "./cases.js";

export interface BenchOptions {
  quick: boolean;
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  /**
   * Before each measurement, wait up to this long for other processes to go quiet; a measurement they
   * disturb anyway is taken again once. 0 (quick mode): never wait, never measure again.
   */
  quietWaitSeconds: number;
  /** Sessions created for the Redis memory measurement. */
  memorySessions: number;
  /** Concurrent views of one session in the lost-update check. */
  lostUpdateViews: number;
  /** Concurrent views around the logout in the logout race. */
  raceViews: number;
  /** Sequential views in the round-trip probe. */
  probeViews: number;
  cases: CaseId[];
  /** Cases whose server runs with `node --cpu-prof` (profiles in .tmp/profiles). */
  profile: CaseId[];
  /** Markdown report path. */
  out: string;
  /** JSON results path; empty: none. */
  json: string;
  /** Fail (exit 1) when the results miss what check.ts asks for: `npm run bench:check`. */
  check: boolean;
}

export const USAGE = `Usage: npm run bench -- [--quick] [--rounds N] [--duration S] [--warmup S] [--connections N]
       [--quiet-wait S] [--sessions N] [--cases floor,latchkey,...] [--cpu-prof latchkey,...] [--out FILE] [--json FILE] [--check]`;

const RESULTS_MD = fileURLToPath(new URL("../../bench/RESULTS.md", import.meta.url));

export function parseOptions(argv: readonly string[]): BenchOptions {
  const quick = argv.includes("--quick");
  const stamp = `${process.pid}-${Date.now()}`;
  const options: BenchOptions = {
    quick,
    rounds: quick ? 1 : 5,
    durationSeconds: quick ? 3 : 10,
    warmupSeconds: quick ? 1 : 3,
    connections: 50,
    quietWaitSeconds: quick ? 0 : 30,
    memorySessions: quick ? 2000 : 100_000,
    lostUpdateViews: 200,
    raceViews: 100,
    probeViews: quick ? 50 : 200,
    cases: ALL_CASES.map((c) => c.id),
    profile: [],
    out: quick ? join(tmpdir(), `latchkey-bench-${stamp}.md`) : RESULTS_MD,
    json: "",
    check: false,
  };
  const ids = new Set<string>(ALL_CASES.map((c) => c.id));
  const caseList = (text: string, flag: string): CaseId[] =>
    text.split(",").map((id) => {
      if (!ids.has(id)) throw new Error(`${flag}: unknown case "${id}" (cases: ${[...ids].join(", ")})`);
      return id as CaseId;
    });
  const positive = (text: string | undefined, flag: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number, got ${text}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return next;
    };
    switch (flag) {
      case "--quick":
        break;
      case "--rounds":
        options.rounds = Math.round(positive(value(), flag));
        break;
      case "--duration":
        options.durationSeconds = positive(value(), flag);
        break;
      case "--warmup":
        options.warmupSeconds = positive(value(), flag);
        break;
      case "--connections":
        options.connections = Math.round(positive(value(), flag));
        break;
      case "--sessions":
        options.memorySessions = Math.round(positive(value(), flag));
        break;
      case "--quiet-wait":
        options.quietWaitSeconds = Number(value());
        if (!(options.quietWaitSeconds >= 0)) throw new Error(`${flag} needs a number of seconds >= 0`);
        break;
      case "--cases":
        options.cases = caseList(value(), flag);
        break;
      case "--cpu-prof":
        options.profile = caseList(value(), flag);
        break;
      case "--out":
        options.out = value();
        break;
      case "--json":
        options.json = value();
        break;
      case "--check":
        options.check = true;
        break;
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return options;
}
