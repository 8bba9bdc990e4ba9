/**
 * Runs `npm run bench -- --quick` end to end so the benchmark never rots: every case must serve its page
 * under load, and the correctness rows must be there with latchkey losing no update and staying logged
 * out. No timing is asserted: a loaded CI machine must not fail this test.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { BenchResults } from "./suite.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

const dir = mkdtempSync(join(tmpdir(), "latchkey-bench-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("npm run bench -- --quick measures every case and the correctness rows", {
  timeout: 240_000,
}, async () => {
  // The benchmark runs compiled code, like `npm run bench`: build first so it never measures a stale dist.
  await run(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
    cwd: ROOT,
  });
  const out = join(dir, "report.md");
  const json = join(dir, "report.json");
  await run(process.execPath, ["dist/bench/run.js", "--quick", "--out", out, "--json", json], {
    cwd: ROOT,
    timeout: 200_000,
    maxBuffer: 16 * 1024 * 1024,
  });

  const results = JSON.parse(readFileSync(json, "utf8")) as BenchResults;
  const ids = results.cases.map((c) => c.id).sort();
  assert.deepEqual(ids, [
    "express-session",
    "fastify-floor",
    "fastify-session",
    "floor",
    "floor-headers",
    "latchkey",
    "latchkey-memory",
    "latchkey-wait",
  ]);
  for (const c of results.cases) {
    assert.ok(c.requestsPerSecond.median > 0, `${c.id}: no requests per second`);
    assert.equal(c.failures, 0, `${c.id}: requests failed under load`);
    assert.equal(c.lostUpdates.expected, 200, `${c.id}: lost-update row missing`);
    assert.equal(typeof c.logoutRace.resurrected, "boolean", `${c.id}: logout-race row missing`);
  }
  for (const id of ["latchkey", "latchkey-memory", "latchkey-wait"]) {
    const c = results.cases.find((x) => x.id === id);
    assert.ok(c);
    assert.equal(c.lostUpdates.lost, 0, `${id} lost updates`);
    assert.equal(c.logoutRace.resurrected, false, `${id} resurrected a logged-out session`);
  }
  assert.ok(
    results.memory.latchkey && results.memory.latchkey.bytesPerSession > 0,
    "latchkey memory row missing",
  );
  assert.ok(
    results.memory.connectRedis && results.memory.connectRedis.bytesPerSession > 0,
    "connect-redis memory row missing",
  );
  const unindexed = results.memory.latchkeyNoUserIndex;
  assert.ok(unindexed && unindexed.bytesPerSession > 0, "latchkey-without-the-user-index memory row missing");
  // Without the per-user index a session is its hash and nothing else: one key, no sorted set.
  assert.equal(
    unindexed.keys,
    unindexed.sessions,
    "latchkey without the user index: not one key per session",
  );
  assert.deepEqual(
    Object.keys(unindexed.keyKinds).map((kind) => kind.split("/")[0]),
    ["hash"],
    `latchkey without the user index wrote other keys than hashes: ${Object.keys(unindexed.keyKinds).join(", ")}`,
  );

  const report = readFileSync(out, "utf8");
  assert.match(
    report,
    /same data \(latchkey without the user index\)/,
    "report lacks the same-data memory target",
  );
  for (const heading of [
    "Throughput and latency",
    "Redis commands per request",
    "Lost updates",
    "Logout race",
    "Redis memory per session",
  ]) {
    assert.match(report, new RegExp(heading), `report lacks "${heading}"`);
  }
});
