/**
 * `node dist/bench/count-instructions.js [case] [views]`: the instructions one page view of a bench case
 * costs its server, counted by valgrind's callgrind at steady state (after `npm run build`).
 *
 * CPU time per request moves by 5-15% from one server process to the next; instruction counts repeat to
 * 1-3%, so this is the tool for "does this change make a view cheaper?". It counts user-space
 * instructions only (not the kernel's socket work), and the server runs about 50 times slower under it.
 * Needs valgrind (callgrind_control comes with it) and redis-server on PATH.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { startRedisServer } from "../test/harness/redis-servers.js";
import { ALL_CASES } from "./cases.js";
import { request } from "./http.js";

const WARMUP_VIEWS = 30_000;
const CONNECTIONS = 10;

const [caseId = "latchkey", viewsText = "10000"] = process.argv.slice(2);
const views = Number(viewsText);
const benchCase = ALL_CASES.find((c) => c.id === caseId);
if (!benchCase || !Number.isInteger(views) || views <= 0) {
  console.error(
    `usage: node dist/bench/count-instructions.js [${ALL_CASES.map((c) => c.id).join("|")}] [views > 0]`,
  );
  process.exit(2);
}

const run = promisify(execFile);
try {
  await run("callgrind_control", ["--version"]);
} catch {
  console.error("count-instructions needs valgrind (with callgrind_control): apt-get install -y valgrind");
  process.exit(2);
}
const work = mkdtempSync(join(tmpdir(), "latchkey-instructions-"));
const outFile = join(work, "callgrind.out");
const redis = await startRedisServer();
const admin = new Redis(redis.url);
try {
  const server = await benchCase.start({
    redisURL: redis.url,
    admin,
    // No concurrent compiler or GC threads, whose work would land at random in the count.
    profileArgs: () => ["--single-threaded"],
    launcher: ["valgrind", "--tool=callgrind", "--instr-atstart=no", `--callgrind-out-file=${outFile}`],
    startTimeoutMs: 120_000,
  });
  try {
    const session = await benchCase.login(server, "instructions");
    const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const view = async (): Promise<void> => {
      const response = await request(`${server.baseURL}/`, { headers: { cookie: session.cookie }, agent });
      if (response.status !== 200) throw new Error(`GET / answered ${response.status}`);
    };
    const drive = async (count: number): Promise<void> => {
      let left = count;
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (left-- > 0) await view();
        }),
      );
    };
    // callgrind_control finds the server through pipes named after $HOST: it inherits ours, as the
    // server did.
    const control = (...args: string[]) => run("callgrind_control", [...args, String(server.pid)]);

    await drive(WARMUP_VIEWS); // uninstrumented: the JIT settles at near full speed
    await control("--instr=on");
    await drive(views);
    await control("--dump");
    await control("--instr=off");
    agent.destroy();

    const summary = /^summary: (\d+)$/m.exec(readFileSync(`${outFile}.1`, "utf8"));
    if (!summary) throw new Error(`no summary line in ${outFile}.1`);
    const perView = Math.round(Number(summary[1]) / views);
    console.log(
      `${caseId}: ${perView} instructions per view (${views} views after ${WARMUP_VIEWS} uncounted)`,
    );
  } finally {
    await server.stop();
  }
} finally {
  admin.disconnect();
  await redis.stop();
  rmSync(work, { recursive: true, force: true });
}
