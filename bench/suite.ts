/**
 * One benchmark run: its own redis-server; rounds of load in alternating order, each case in a fresh
 * child process every round; then the probes, the correctness checks and the memory measurement.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { startRedisServer } from "../test/harness/redis-servers.js";
import {
  ALL_CASES,
  type BenchCase,
  type CaseContext,
  type CaseId,
  connectRedisKey,
  type LoggedIn,
} from "./cases.js";
import {
  checkLogoutRace,
  checkLostUpdates,
  type LogoutRaceResult,
  type LostUpdateResult,
} from "./correctness.js";
import { describeEnvironment, type Environment } from "./environment.js";
import { type HTTPResponse, isLoggedInPage, request, sequentialAgent } from "./http.js";
import { type LibraryAloneResult, measureLibraryAlone } from "./library-alone.js";
import { type LoadResult, runLoad } from "./load.js";
import {
  BROWSER_USER_AGENT,
  connectRedisMemory,
  type ExpressSessionData,
  latchkeyMemory,
  type MemoryResult,
} from "./memory.js";
import { sleep } from "./net.js";
import type { BenchOptions } from "./options.js";
import { type ProbeResult, probeRoundTrips } from "./probe.js";
import { cpuTimes, machineBusyMicros, ownAndChildrenCPUMicros, rssBytes } from "./process-stats.js";
import { diff, type RedisDelta, snapshot } from "./redis-stats.js";
import type { ServerProcess } from "./server-process.js";
import { type Spread, spread } from "./stats.js";

/** One measurement of one case: the load generator's result plus what the server and Redis spent. */
export interface Sample extends LoadResult {
  round: number;
  cpuMicrosPerRequest: number;
  /** The user-space part of it: JavaScript, V8, libuv. */
  userMicrosPerRequest: number;
  /** The kernel part of it: mostly socket reads and writes. */
  systemMicrosPerRequest: number;
  /** Cores the load generator (and the runner) kept busy. */
  loadGeneratorCores: number;
  /** Cores kept busy by other processes on the machine during the measurement: noise. */
  backgroundCores: number;
  /** True when a first measurement was disturbed by background load and this is the second one. */
  remeasured?: boolean;
  redisCPUMicrosPerRequest: number;
  rssBytes: number;
  redis: RedisDelta;
}

/** What one view of the page sends back. */
export interface PageSize {
  bodyBytes: number;
  headerBytes: number;
}

/** The sample fields whose spread over rounds every case reports. */
const SAMPLED = [
  "requestsPerSecond",
  "p50Ms",
  "p99Ms",
  "cpuMicrosPerRequest",
  "userMicrosPerRequest",
  "systemMicrosPerRequest",
  "redisCPUMicrosPerRequest",
  "backgroundCores",
  "rssBytes",
] as const;
type Sampled = (typeof SAMPLED)[number];

export interface CaseResult extends Record<Sampled, Spread> {
  id: CaseId;
  label: string;
  onRedis: boolean;
  samples: Sample[];
  /** All commands Redis ran per request, including those inside scripts. */
  commandsPerRequest: Spread;
  /** EVALSHA/EVAL calls per request. */
  scriptCallsPerRequest: Spread;
  /** Redis time per script call (EVALSHA with what it runs), from commandstats; NaN without scripts. */
  microsPerScriptCall: Spread;
  failures: number;
  page: PageSize;
  probe: ProbeResult | null;
  lostUpdates: LostUpdateResult;
  logoutRace: LogoutRaceResult;
}

export interface BenchResults {
  mode: "quick" | "full";
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  quietWaitSeconds: number;
  environment: Environment;
  cases: CaseResult[];
  /** Loads per second through latchkey and through each client's own script call (library-alone.ts). */
  libraryAlone: LibraryAloneResult[];
  memory: {
    connectRedis: MemoryResult | null;
    latchkey: MemoryResult | null;
    /** The same with a 111-character browser User-Agent stored with each session. */
    latchkeyWithUserAgent: MemoryResult | null;
    /** The same data, five sessions per user (devices and re-logins share one user index). */
    latchkeyFivePerUser: MemoryResult | null;
    /**
     * As `latchkey` (one session per user, no User-Agent) with `userIndex: false`: no per-user index key,
     * the same data connect-redis stores.
     */
    latchkeyNoUserIndex: MemoryResult | null;
  };
}

const PROFILE_DIR = fileURLToPath(new URL("../../.tmp/profiles", import.meta.url));
/** The user every load session belongs to. */
const LOAD_USER = "bench";

type Log = (line: string) => void;

async function expectLoggedIn(server: ServerProcess, session: LoggedIn, when: string): Promise<HTTPResponse> {
  const response = await request(`${server.baseURL}/`, { headers: { cookie: session.cookie } });
  if (response.status !== 200 || !isLoggedInPage(response.body)) {
    throw new Error(
      `${server.name}: GET / ${when} is not a logged-in page (${response.status}): ${response.body.slice(0, 300)}`,
    );
  }
  return response;
}

/** Background load above which a sample is measured again (once). */
const DISTURBED_CORES = 0.25;
/** Background load under which the machine counts as quiet enough to start a measurement. */
const QUIET_CORES = 0.1;

/**
 * Waits (at most `maxWaitSeconds`) until processes other than the bench's keep less than QUIET_CORES
 * busy over one second; every server is idle meanwhile, so all the busy time is someone else's.
 * Returns the last background load seen.
 */
async function waitForQuiet(maxWaitSeconds: number): Promise<number> {
  const deadline = Date.now() + maxWaitSeconds * 1000;
  for (;;) {
    const machine = machineBusyMicros();
    const own = ownAndChildrenCPUMicros();
    await sleep(1000);
    const cores = (machineBusyMicros() - machine - (ownAndChildrenCPUMicros() - own)) / 1e6;
    if (cores < QUIET_CORES || Date.now() >= deadline) return cores;
  }
}

/** One measured sample; measured again once when other processes disturbed it. */
async function measure(
  options: BenchOptions,
  admin: Redis,
  server: ServerProcess,
  session: LoggedIn,
  round: number,
): Promise<Sample> {
  if (options.quietWaitSeconds > 0) await waitForQuiet(options.quietWaitSeconds);
  const sample = await measureOnce(options, admin, server, session, round);
  if (sample.backgroundCores <= DISTURBED_CORES || options.quietWaitSeconds === 0) return sample;
  await waitForQuiet(options.quietWaitSeconds);
  return { ...(await measureOnce(options, admin, server, session, round)), remeasured: true };
}

async function measureOnce(
  options: BenchOptions,
  admin: Redis,
  server: ServerProcess,
  session: LoggedIn,
  round: number,
): Promise<Sample> {
  const load = {
    url: `${server.baseURL}/`,
    cookie: session.cookie,
    connections: options.connections,
  };
  await runLoad({ ...load, durationSeconds: options.warmupSeconds });
  const redisBefore = await snapshot(admin);
  const cpuBefore = cpuTimes(server.pid);
  const machineBefore = machineBusyMicros();
  const ownBefore = ownAndChildrenCPUMicros();
  const started = performance.now();
  const result = await runLoad({ ...load, durationSeconds: options.durationSeconds });
  const wallMicros = (performance.now() - started) * 1000;
  const ownAfter = ownAndChildrenCPUMicros();
  const machineAfter = machineBusyMicros();
  const cpuAfter = cpuTimes(server.pid);
  const redisAfter = await snapshot(admin);
  const rss = rssBytes(server.pid);
  await expectLoggedIn(server, session, "after the load");
  const redis = diff(redisBefore, redisAfter);
  const requests = Math.max(result.requests, 1);
  // What the machine did besides this case's server, redis-server and the load generator (and the
  // runner): other people's processes on a shared machine. Nonzero means the numbers are disturbed.
  const serverUser = cpuAfter.user - cpuBefore.user;
  const serverSystem = cpuAfter.system - cpuBefore.system;
  const serverCPU = serverUser + serverSystem;
  const others = machineAfter - machineBefore - serverCPU - redis.cpuMicros - (ownAfter - ownBefore);
  return {
    round,
    requests: result.requests,
    seconds: result.seconds,
    requestsPerSecond: result.requestsPerSecond,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    failures: result.failures,
    cpuMicrosPerRequest: serverCPU / requests,
    userMicrosPerRequest: serverUser / requests,
    systemMicrosPerRequest: serverSystem / requests,
    loadGeneratorCores: (ownAfter - ownBefore) / wallMicros,
    backgroundCores: Math.max(0, others) / wallMicros,
    redisCPUMicrosPerRequest: redis.cpuMicros / requests,
    rssBytes: rss,
    redis,
  };
}

export async function runBench(options: BenchOptions, log: Log): Promise<BenchResults> {
  const cases = ALL_CASES.filter((c) => options.cases.includes(c.id));
  log(`starting redis-server`);
  const redis = await startRedisServer();
  const admin = new Redis(redis.url);
  const context: CaseContext = {
    redisURL: redis.url,
    admin,
    profileArgs: (id) =>
      options.profile.includes(id) ? ["--cpu-prof", `--cpu-prof-dir=${join(PROFILE_DIR, id)}`] : [],
  };
  const servers = new Map<CaseId, ServerProcess>();
  const pageSizes = new Map<CaseId, PageSize>();
  /** Starts a fresh server for the case and logs the load user in through it. */
  const startLoggedIn = async (
    benchCase: BenchCase,
  ): Promise<{ server: ServerProcess; session: LoggedIn }> => {
    const server = await benchCase.start(context);
    servers.set(benchCase.id, server);
    const session = await benchCase.login(server, LOAD_USER);
    const page = await expectLoggedIn(server, session, "after login");
    pageSizes.set(benchCase.id, { bodyBytes: Buffer.byteLength(page.body), headerBytes: page.headerBytes });
    return { server, session };
  };
  const stop = async (benchCase: BenchCase): Promise<void> => {
    await servers.get(benchCase.id)?.stop();
    servers.delete(benchCase.id);
  };
  try {
    const environment = await describeEnvironment(admin);

    // Every round measures every case in a process of its own, started for that round: two processes
    // of the same server can differ by 10-15% for their whole life (JIT decisions, memory layout), so
    // the median over rounds is a median over processes, not one process's luck.
    const samples = new Map<CaseId, Sample[]>(cases.map((c) => [c.id, []]));
    const lastSession = new Map<CaseId, LoggedIn>();
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 === 1 ? cases : [...cases].reverse();
      for (const benchCase of order) {
        log(`round ${round}: starting ${benchCase.id}`);
        const { server, session } = await startLoggedIn(benchCase);
        lastSession.set(benchCase.id, session);
        const sample = await measure(options, admin, server, session, round);
        await stop(benchCase);
        samples.get(benchCase.id)?.push(sample);
        log(
          `round ${round} ${benchCase.id}: ${Math.round(sample.requestsPerSecond)} req/s, p50 ${sample.p50Ms} ms, ` +
            `p99 ${sample.p99Ms} ms, ${sample.cpuMicrosPerRequest.toFixed(1)} µs CPU/req, ` +
            `${(sample.redis.totalCalls / Math.max(sample.requests, 1)).toFixed(2)} Redis cmds/req, ` +
            `background load ${sample.backgroundCores.toFixed(2)} cores` +
            (sample.remeasured ? " (measured again)" : "") +
            (sample.failures ? `, ${sample.failures} FAILED` : ""),
        );
      }
    }

    // The object express-session saves for a logged-in user, read back from Redis: the template of the
    // connect-redis memory measurement.
    let expressTemplate: ExpressSessionData | null = null;
    const expressSession = lastSession.get("express-session");
    if (expressSession) {
      const stored = await admin.get(connectRedisKey("connect.sid")(expressSession.cookies));
      if (stored) expressTemplate = JSON.parse(stored) as ExpressSessionData;
    }

    const results: CaseResult[] = [];
    for (const benchCase of cases) {
      const { server, session } = await startLoggedIn(benchCase);
      const probe = benchCase.onRedis
        ? await probeRoundTrips(admin, server, session, options.probeViews)
        : null;
      const lostUpdates = await checkLostUpdates(benchCase, server, options.lostUpdateViews);
      const logoutRace = await checkLogoutRace(benchCase, server, admin, options.raceViews);
      await stop(benchCase);
      log(
        `${benchCase.id}: lost ${lostUpdates.lost}/${lostUpdates.expected} updates, ` +
          `logout race: ${logoutRace.resurrected ? "RESURRECTED" : "stayed logged out"}` +
          (probe ? `, ${probe.roundTripsPerView.toFixed(2)} round trips/view` : ""),
      );
      const own = samples.get(benchCase.id) ?? [];
      const of = (pick: (s: Sample) => number): Spread => spread(own.map(pick));
      results.push({
        id: benchCase.id,
        label: benchCase.label,
        onRedis: benchCase.onRedis,
        samples: own,
        ...(Object.fromEntries(SAMPLED.map((key) => [key, of((s) => s[key])])) as Record<Sampled, Spread>),
        commandsPerRequest: of((s) => s.redis.totalCalls / Math.max(s.requests, 1)),
        scriptCallsPerRequest: of((s) => s.redis.scriptCalls / Math.max(s.requests, 1)),
        microsPerScriptCall: of((s) => s.redis.scriptMicros / s.redis.scriptCalls),
        failures: own.reduce((sum, s) => sum + s.failures, 0),
        page: pageSizes.get(benchCase.id) as PageSize,
        probe,
        lostUpdates,
        logoutRace,
      });
    }

    // The library alone (no HTTP): latchkey's load on each client against the client's own script call.
    const libraryLoads = options.quick ? 5_000 : 30_000;
    log(`measuring the library alone: ${options.rounds} rounds of ${libraryLoads} loads per client`);
    const libraryAlone = await measureLibraryAlone(redis.url, options.rounds, libraryLoads);

    // Memory last: it flushes the server; every case's server is stopped by now, so nothing else writes.
    log(`measuring Redis memory per session with ${options.memorySessions} sessions`);
    const connectRedis = expressTemplate
      ? await connectRedisMemory(admin, redis.url, options.memorySessions, expressTemplate)
      : null;
    const withLatchkey = cases.some((c) => c.id === "latchkey");
    const latchkey = withLatchkey ? await latchkeyMemory(admin, redis.url, options.memorySessions, "") : null;
    const latchkeyWithUserAgent = withLatchkey
      ? await latchkeyMemory(admin, redis.url, options.memorySessions, BROWSER_USER_AGENT)
      : null;
    const latchkeyFivePerUser = withLatchkey
      ? await latchkeyMemory(admin, redis.url, options.memorySessions, "", { sessionsPerUser: 5 })
      : null;
    const latchkeyNoUserIndex = withLatchkey
      ? await latchkeyMemory(admin, redis.url, options.memorySessions, "", { userIndex: false })
      : null;

    return {
      mode: options.quick ? "quick" : "full",
      rounds: options.rounds,
      durationSeconds: options.durationSeconds,
      warmupSeconds: options.warmupSeconds,
      connections: options.connections,
      quietWaitSeconds: options.quietWaitSeconds,
      environment,
      cases: results,
      libraryAlone,
      memory: { connectRedis, latchkey, latchkeyWithUserAgent, latchkeyFivePerUser, latchkeyNoUserIndex },
    };
  } finally {
    for (const server of servers.values()) await server.stop().catch(() => undefined);
    sequentialAgent.destroy();
    admin.disconnect();
    await redis.stop();
  }
}
