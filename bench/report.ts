/** Turns BenchResults into the Markdown report printed by `npm run bench` and kept in bench/RESULTS.md. */

import type { MemoryResult } from "./memory.js";
import { type Spread, spread } from "./stats.js";
import type { BenchResults, CaseResult } from "./suite.js";

const fixed = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");

/** "median (min–max)", or just the median when there was one round. */
function range(s: Spread, format: (n: number) => string): string {
  if (s.min === s.max) return format(s.median);
  return `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

function ratio(a: number, b: number | undefined): string {
  return b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0
    ? "–"
    : `${(a / b).toFixed(2)}×`;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

function perRequest(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? "none" : entries.map(([name, n]) => `${name} ${fixed(n, 2)}`).join(", ");
}

function throughput(results: BenchResults): string {
  const byId = new Map(results.cases.map((c) => [c.id, c]));
  const rps = (id: string): number | undefined => byId.get(id as CaseResult["id"])?.requestsPerSecond.median;
  return table(
    [
      "case",
      "req/s",
      "p50 ms",
      "p99 ms",
      "÷ express-session",
      "÷ @fastify/session",
      "÷ floor",
      "÷ floor on Fastify",
      "failed",
      "background load (cores)",
    ],
    results.cases.map((c) => [
      c.label,
      range(c.requestsPerSecond, int),
      range(c.p50Ms, (n) => fixed(n, 2)),
      range(c.p99Ms, (n) => fixed(n, 2)),
      ratio(c.requestsPerSecond.median, rps("express-session")),
      ratio(c.requestsPerSecond.median, rps("fastify-session")),
      ratio(c.requestsPerSecond.median, rps("floor")),
      ratio(c.requestsPerSecond.median, rps("fastify-floor")),
      String(c.failures),
      range(c.backgroundCores, (n) => fixed(n, 2)),
    ]),
  );
}

function costs(results: BenchResults): string {
  const floorCPU = results.cases.find((c) => c.id === "floor")?.cpuMicrosPerRequest.median;
  const fastifyFloorCPU = results.cases.find((c) => c.id === "fastify-floor")?.cpuMicrosPerRequest.median;
  return table(
    [
      "case",
      "server CPU µs/req",
      "÷ floor",
      "÷ floor on Fastify",
      "of which user",
      "of which system",
      "Redis CPU µs/req",
      "server RSS after load (MB)",
      "response: headers + body bytes",
    ],
    results.cases.map((c) => [
      c.label,
      range(c.cpuMicrosPerRequest, (n) => fixed(n, 1)),
      ratio(c.cpuMicrosPerRequest.median, floorCPU),
      ratio(c.cpuMicrosPerRequest.median, fastifyFloorCPU),
      range(c.userMicrosPerRequest, (n) => fixed(n, 1)),
      range(c.systemMicrosPerRequest, (n) => fixed(n, 1)),
      c.onRedis ? range(c.redisCPUMicrosPerRequest, (n) => fixed(n, 1)) : "–",
      range(c.rssBytes, (n) => fixed(n / 2 ** 20, 1)),
      `${c.page.headerBytes} + ${c.page.bodyBytes}`,
    ]),
  );
}

function redisCommands(results: BenchResults): string {
  const onRedis = results.cases.filter((c) => c.onRedis);
  return table(
    [
      "case",
      "commands/req (load, incl. inside scripts)",
      "EVALSHA+EVAL/req",
      "Redis µs per script call (with what it runs)",
      "other commands/req",
      "round trips/view (probe)",
      "sent by the server, per view (probe)",
      "run inside scripts, per view (probe)",
    ],
    onRedis.map((c) => [
      c.label,
      range(c.commandsPerRequest, (n) => fixed(n, 2)),
      range(c.scriptCallsPerRequest, (n) => fixed(n, 2)),
      Number.isNaN(c.microsPerScriptCall.median) ? "–" : range(c.microsPerScriptCall, (n) => fixed(n, 1)),
      fixed(c.commandsPerRequest.median - c.scriptCallsPerRequest.median, 2),
      c.probe ? fixed(c.probe.roundTripsPerView, 2) : "–",
      c.probe ? perRequest(c.probe.topLevelPerView) : "–",
      c.probe ? perRequest(c.probe.inScriptsPerView) : "–",
    ]),
  );
}

function correctness(results: BenchResults): string {
  const lost = table(
    ["case", "expected", "observed", "lost updates", "failed views"],
    results.cases.map((c) => [
      c.label,
      String(c.lostUpdates.expected),
      String(c.lostUpdates.observed),
      String(c.lostUpdates.lost),
      String(c.lostUpdates.failedViews),
    ]),
  );
  const yesNo = (b: boolean | null): string => (b === null ? "n/a" : b ? "**yes**" : "no");
  const race = table(
    [
      "case",
      "logged-in views of 100",
      "logout status",
      "old cookie works after",
      "session key in Redis after",
      "resurrected",
    ],
    results.cases.map((c) => [
      c.label,
      `${c.logoutRace.loggedInViews} of ${c.logoutRace.views}`,
      String(c.logoutRace.logoutStatus),
      yesNo(c.logoutRace.oldCookieWorks),
      yesNo(c.logoutRace.keyExists),
      c.logoutRace.resurrected ? "**RESURRECTED**" : "no",
    ]),
  );
  return `### Lost updates (${results.cases[0]?.lostUpdates.expected ?? 0} concurrent views of one fresh session)\n\n${lost}\n\n### Logout race (views in flight around a logout, fresh session)\n\n${race}`;
}

/**
 * What latchkey's per-user index costs: bytes/session with it minus without it (same data, no
 * User-Agent), with one session per user and with five. Null when a row is missing.
 */
function userIndexCost(results: BenchResults): string | null {
  const { latchkey, latchkeyFivePerUser, latchkeyNoUserIndex: without } = results.memory;
  if (!latchkey || !without) return null;
  const added = (m: MemoryResult): string =>
    `${m.bytesPerSession >= without.bytesPerSession ? "+" : ""}${int(m.bytesPerSession - without.bytesPerSession)} B/session ` +
    `(${int(m.bytesPerSession)} B with it vs ${int(without.bytesPerSession)} B without)`;
  return (
    "The per-user index (one sorted set per user: what listForUser, destroyById and destroyForUser need; " +
    `connect-redis has no equivalent) adds, with one session per user, ${added(latchkey)}` +
    (latchkeyFivePerUser ? `; with five sessions per user, ${added(latchkeyFivePerUser)}` : "") +
    "."
  );
}

function memory(results: BenchResults): string {
  const { connectRedis, latchkey, latchkeyWithUserAgent, latchkeyFivePerUser, latchkeyNoUserIndex } =
    results.memory;
  const rows: string[][] = [];
  const kinds = (m: MemoryResult): string =>
    Object.entries(m.keyKinds)
      .sort((a, b) => b[1].perSession - a[1].perSession)
      .map(([kind, k]) => `${fixed(k.perSession, 2)} × ${kind} (${int(k.averageBytes)} B)`)
      .join(" + ");
  const row = (label: string, m: MemoryResult | null): void => {
    if (m) rows.push([label, int(m.sessions), int(m.keys), int(m.bytesPerSession), kinds(m)]);
  };
  row(
    "latchkey (createSessionManager + createRedisStore, no User-Agent: what the bench client sends), one session per user, with the per-user index (the default)",
    latchkey,
  );
  row(
    "latchkey as above without the per-user index (userIndex: false): the same data connect-redis stores",
    latchkeyNoUserIndex,
  );
  row(
    "latchkey, given a 111-character browser User-Agent (kept to its first 64 characters), with the index",
    latchkeyWithUserAgent,
  );
  row("latchkey, five sessions per user (they share one user index)", latchkeyFivePerUser);
  row("connect-redis (the object express-session saves, cookie included)", connectRedis);
  if (rows.length === 0) return "not measured";
  const notes: string[] = [];
  if (latchkeyNoUserIndex && connectRedis) {
    notes.push(
      `Same data, latchkey without the user index ÷ connect-redis: ${ratio(latchkeyNoUserIndex.bytesPerSession, connectRedis.bytesPerSession)}.`,
    );
  }
  if (latchkey && connectRedis) {
    notes.push(
      `With the index, latchkey ÷ connect-redis: ${ratio(latchkey.bytesPerSession, connectRedis.bytesPerSession)} ` +
        `(with the User-Agent: ${ratio(latchkeyWithUserAgent?.bytesPerSession ?? Number.NaN, connectRedis.bytesPerSession)}; ` +
        `five sessions per user: ${ratio(latchkeyFivePerUser?.bytesPerSession ?? Number.NaN, connectRedis.bytesPerSession)}).`,
    );
  }
  const cost = userIndexCost(results);
  if (cost) notes.push(cost);
  return (
    table(
      [
        "store",
        "sessions",
        "keys",
        "bytes/session (used_memory delta)",
        "keys per session: type/encoding (MEMORY USAGE of one)",
      ],
      rows,
    ) + (notes.length > 0 ? `\n\n${notes.join(" ")}` : "")
  );
}

/** latchkey's targets, each with the measured value and whether it is met. */
function targets(results: BenchResults): string {
  const find = (id: string): CaseResult | undefined => results.cases.find((c) => c.id === id);
  const latchkey = find("latchkey");
  const floor = find("floor");
  if (!latchkey) return "latchkey was not measured in this run.";
  const rows: string[][] = [];
  const check = (target: string, measured: string, met: boolean | null): void => {
    rows.push([target, measured, met === null ? "–" : met ? "met" : "**NOT MET**"]);
  };
  if (floor) {
    const rpsRatio = latchkey.requestsPerSecond.median / floor.requestsPerSecond.median;
    check("req/s ≥ 75% of the floor's", `${(rpsRatio * 100).toFixed(0)}%`, rpsRatio >= 0.75);
    const cpuRatio = latchkey.cpuMicrosPerRequest.median / floor.cpuMicrosPerRequest.median;
    check("server CPU per request ≤ 1.3× the floor's", `${cpuRatio.toFixed(2)}×`, cpuRatio <= 1.3);
  }
  if (latchkey.probe) {
    const trips = latchkey.probe.roundTripsPerView;
    check("Redis round trips per view (it writes: increment + touch) ≤ 2", fixed(trips, 2), trips <= 2);
  }
  const lost = results.cases
    .filter((c) => c.id.includes("latchkey"))
    .reduce((n, c) => n + c.lostUpdates.lost, 0);
  check("lost updates: 0", String(lost), lost === 0);
  const resurrected = results.cases.filter(
    (c) => c.id.includes("latchkey") && c.logoutRace.resurrected,
  ).length;
  check("resurrections after logout: 0", String(resurrected), resurrected === 0);
  const { latchkeyNoUserIndex: mine, connectRedis } = results.memory;
  if (mine && connectRedis) {
    check(
      "Redis memory per session ≤ connect-redis's, same data (latchkey without the user index)",
      `${int(mine.bytesPerSession)} B vs ${int(connectRedis.bytesPerSession)} B`,
      mine.bytesPerSession <= connectRedis.bytesPerSession,
    );
  }
  const cost = userIndexCost(results);
  const notes = [
    cost ? `${cost.charAt(0).toLowerCase()}${cost.slice(1)}` : "",
    sameResponse(latchkey, find("floor-headers")),
  ];
  return (
    table(["latchkey target", "measured (medians)", ""], rows) +
    notes
      .filter((note) => note !== "")
      .map((note) => `\n\nNot a target: ${note}`)
      .join("")
  );
}

/**
 * The targets are against the bare floor, which sends no security headers. Against the floor that sends
 * the app's (the same response, header for header), the ratios say what the session layer itself costs.
 */
function sameResponse(latchkey: CaseResult, floorWithHeaders: CaseResult | undefined): string {
  if (!floorWithHeaders) return "";
  const rps = latchkey.requestsPerSecond.median / floorWithHeaders.requestsPerSecond.median;
  const cpu = latchkey.cpuMicrosPerRequest.median / floorWithHeaders.cpuMicrosPerRequest.median;
  return (
    `against the floor that also sends the app's security headers (the same response as latchkey's, ` +
    `header for header), latchkey's req/s is ${(rps * 100).toFixed(0)}% of its req/s and its CPU per ` +
    `request ${cpu.toFixed(2)}× its CPU.`
  );
}

/** Per framework (issue 21): its floor, latchkey through its adapter, and its session library. */
const FRAMEWORKS = [
  {
    name: "Express 5 (node-redis)",
    floor: "express-floor",
    latchkey: "express-latchkey",
    peer: "express-session",
  },
  {
    name: "Fastify 5 (ioredis)",
    floor: "fastify-floor",
    latchkey: "fastify-latchkey",
    peer: "fastify-session",
  },
  { name: "Hono 4 (node-redis)", floor: "hono-floor", latchkey: "hono-latchkey", peer: undefined },
] as const;

/** latchkey's req/s per framework must be at least this share of the framework's floor's. */
const FRAMEWORK_TARGET = 0.85;

function perFramework(results: BenchResults): string | null {
  const find = (id: string | undefined): CaseResult | undefined =>
    id === undefined ? undefined : results.cases.find((c) => c.id === id);
  const rps = (c: CaseResult | undefined): string => (c ? range(c.requestsPerSecond, int) : "–");
  const rows = FRAMEWORKS.flatMap(({ name, floor: floorId, latchkey: latchkeyId, peer: peerId }) => {
    const [floor, latchkey, peer] = [find(floorId), find(latchkeyId), find(peerId)];
    if (!floor && !latchkey) return [];
    const met =
      floor && latchkey
        ? latchkey.requestsPerSecond.median / floor.requestsPerSecond.median >= FRAMEWORK_TARGET
          ? "met"
          : "**NOT MET**"
        : "–";
    return [
      [
        name,
        rps(floor),
        rps(latchkey),
        ratio(latchkey?.requestsPerSecond.median ?? Number.NaN, floor?.requestsPerSecond.median),
        met,
        ratio(latchkey?.cpuMicrosPerRequest.median ?? Number.NaN, floor?.cpuMicrosPerRequest.median),
        peerId === undefined ? "none" : rps(peer),
        ratio(latchkey?.requestsPerSecond.median ?? Number.NaN, peer?.requestsPerSecond.median),
      ],
    ];
  });
  if (rows.length === 0) return null;
  return table(
    [
      "framework (Redis client)",
      "floor req/s",
      "latchkey req/s",
      "latchkey ÷ floor",
      `≥ ${FRAMEWORK_TARGET}× floor`,
      "server CPU/req: latchkey ÷ floor",
      "peer req/s",
      "latchkey ÷ peer",
    ],
    rows,
  );
}

function libraryAlone(results: BenchResults): string {
  if (results.libraryAlone.length === 0) return "not measured";
  const rows = results.libraryAlone.map((r) => {
    const own = spread(r.ownCallPerSecond).median;
    const latchkey = spread(r.latchkeyPerSecond).median;
    return [
      r.client,
      Math.round(own).toLocaleString("en-US"),
      Math.round(latchkey).toLocaleString("en-US"),
      ratio(latchkey, own),
      latchkey >= 0.8 * own ? "met" : "**NOT MET**",
    ];
  });
  return table(
    ["client", "its own EVALSHA, loads/s", "latchkey load, loads/s", "latchkey ÷ own", "≥ 0.8× (goal)"],
    rows,
  );
}

function environment(results: BenchResults): string {
  const e = results.environment;
  const packages = Object.entries(e.packages)
    .map(([name, version]) => `${name} ${version}`)
    .join(", ");
  return [
    `- date: ${e.date}`,
    `- machine: ${e.cpu}, ${e.cores} cores, ${e.memoryGiB} GiB RAM, ${e.os}`,
    `- node ${e.node}, redis-server ${e.redis}, load generator ${e.loadTool}`,
    `- packages: ${packages}`,
    `- latchkey commit: ${e.commit}`,
    `- mode: ${results.mode}: ${results.rounds} round(s), ${results.durationSeconds} s load after ${results.warmupSeconds} s warm-up per case and round, ${results.connections} connections on one session cookie, order alternating by round`,
  ].join("\n");
}

function frameworkSection(results: BenchResults): string {
  const rows = perFramework(results);
  if (!rows) return "";
  return `## Per framework

Each framework three ways, the same page and the same tiny protocol (POST /login?username=…, POST
/logout): its floor (the framework plus ONE EVALSHA of the floor's script, no session library), latchkey
through its adapter (\`latchkey/express\`, \`latchkey/fastify\`, \`latchkey/hono\` on
\`createRedisStore\`, no security headers or logging: unlike the reference app), and its session library
(express-session and @fastify/session, both on connect-redis with a node-redis client; Hono has none).
Medians; the ratios are of medians.

${rows}

`;
}

export function renderReport(results: BenchResults): string {
  return `# latchkey benchmark

The same page ("Logged in as NAME. Visits: N", counter incremented on every view, 30-minute sliding idle
TTL, HTML-escaped) from each case, each server in its own process (a fresh one every round), all on one
redis-server started for the run. Medians over rounds, with min–max in parentheses. Generated by
\`npm run bench\`.

${environment(results)}

## latchkey against its targets

${targets(results)}

${frameworkSection(results)}## Throughput and latency

"Background load" is the CPU that processes other than this case's server, redis-server and the load
generator used during the measurement (from /proc/stat), in cores: on a shared machine it is the noise in
the numbers. ${
    results.quietWaitSeconds > 0
      ? `Before each measurement the run waited (up to ${results.quietWaitSeconds} s) for the machine to go quiet, and a measurement disturbed by more than 0.25 cores was taken again once (${results.cases.reduce((n, c) => n + c.samples.filter((s) => s.remeasured).length, 0)} of ${results.cases.reduce((n, c) => n + c.samples.length, 0)} were).`
      : "Quick mode does not wait for a quiet machine."
  } When the column is well above 0, CPU per request below is the steadier comparison.

${throughput(results)}

## Cost per request

Server CPU is user+system time of the server process (from /proc) over the measured load ÷ requests:
"user" is the process's own code (JavaScript, V8, libuv), "system" the kernel working for it (socket
reads and writes, mostly). Redis CPU is redis-server's, from INFO cpu.

${costs(results)}

Every case renders the same page with the app's own view; the latchkey app also sends its security
headers (CSP, X-Frame-Options, ...) and, on the memory store, a footer saying sessions vanish on restart.
"floor + the app's security headers" is the floor sending those same headers: its response matches the
app's header for header, so its distance from the floor is what the headers cost in node:http alone.
The floor keeps the raw token in its Redis key (no hashing); latchkey stores SHA-256(token).

## Redis commands per request

Commands from INFO commandstats over the load ÷ requests; Redis counts the commands a script runs as
well as the EVALSHA. The probe sends ${results.cases.find((c) => c.probe)?.probe?.views ?? 0} views one at a time: round trips are Redis read events
(total_reads_processed), and MONITOR splits what the server sent from what scripts ran. The time per
script call is commandstats' \`usec\` of EVALSHA over its calls: Redis's own time in the script and the
commands it runs, without reading the request or writing the reply.

${redisCommands(results)}

## The library alone

Loads of one session with one increment (a page view's store call), 50 in flight, in the bench's own
process, no HTTP: \`sessions.load(token, { increment })\` through latchkey's manager and store, against
the same client calling the same Lua script with the same arguments itself (ioredis \`evalsha\`, node-redis
\`sendCommand\` with \`timeout: 0\`, its fastest: node-redis 6's default per-command timeout costs more
than half its throughput). The difference is latchkey's own work per call: hashing the token, the
deadline, decoding the reply into a typed session. Medians of ${results.rounds} rounds, alternating.

${libraryAlone(results)}

## Correctness

${correctness(results)}

## Redis memory per session

${memory(results)}
`;
}
