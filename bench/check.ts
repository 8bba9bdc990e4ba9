/**
 * `npm run bench:check` (`--check`): what a quick run must show for the bench not to have rotted. Every
 * case served its page under load; the correctness and memory rows are there; latchkey lost no update and
 * stayed logged out. No timing is checked: a loaded CI machine must not fail it.
 */
import type { BenchResults } from "./suite.js";

/** The problems found in a run's results; empty when it passes. */
export function checkResults(results: BenchResults): string[] {
  const problems: string[] = [];
  const expect = (ok: unknown, problem: string): void => {
    if (!ok) problems.push(problem);
  };
  for (const c of results.cases) {
    expect(c.requestsPerSecond.median > 0, `${c.id}: no requests per second`);
    expect(c.failures === 0, `${c.id}: ${c.failures} requests failed under load`);
    expect(c.lostUpdates.expected > 0, `${c.id}: lost-update row missing`);
    expect(typeof c.logoutRace.resurrected === "boolean", `${c.id}: logout-race row missing`);
    if (c.id.includes("latchkey")) {
      expect(c.lostUpdates.lost === 0, `${c.id} lost ${c.lostUpdates.lost} updates`);
      expect(!c.logoutRace.resurrected, `${c.id} resurrected a logged-out session`);
    }
  }
  for (const client of ["ioredis", "node-redis"]) {
    const row = results.libraryAlone.find((r) => r.client === client);
    const measured = [...(row?.ownCallPerSecond ?? []), ...(row?.latchkeyPerSecond ?? [])];
    expect(
      measured.length >= 2 && measured.every((n) => n > 0),
      `library-alone row for ${client} missing or empty`,
    );
  }
  const { latchkey, connectRedis, latchkeyNoUserIndex: unindexed } = results.memory;
  const ids = new Set(results.cases.map((c) => c.id));
  if (ids.has("latchkey")) {
    expect(latchkey && latchkey.bytesPerSession > 0, "latchkey memory row missing");
    expect(unindexed && unindexed.bytesPerSession > 0, "latchkey-without-the-user-index memory row missing");
    if (unindexed) {
      // Without the per-user index a session is its hash and nothing else: one key, no sorted set.
      const kinds = Object.keys(unindexed.keyKinds);
      expect(
        unindexed.keys === unindexed.sessions,
        "latchkey without the user index: not one key per session",
      );
      expect(
        kinds.every((kind) => kind.startsWith("hash/")),
        `latchkey without the user index wrote other keys than hashes: ${kinds.join(", ")}`,
      );
    }
  }
  if (ids.has("express-session")) {
    expect(connectRedis && connectRedis.bytesPerSession > 0, "connect-redis memory row missing");
  }
  return problems;
}
