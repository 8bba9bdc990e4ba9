/**
 * Round trips per view, measured exactly: views sent one at a time on one connection while Redis counts
 * read events (one per round trip when nothing else is in flight) and MONITOR splits the commands into
 * those clients sent and those scripts ran.
 */
import type { Redis } from "ioredis";
import type { LoggedIn } from "./cases.js";
import { request } from "./http.js";
import { sleep } from "./net.js";
import { diff, monitorCommands, snapshot } from "./redis-stats.js";
import type { ServerProcess } from "./server-process.js";

export interface ProbeResult {
  views: number;
  roundTripsPerView: number;
  /** Commands sent by the server per view, by name (an EVALSHA counts once). */
  topLevelPerView: Record<string, number>;
  /** Commands run inside scripts per view, by name. */
  inScriptsPerView: Record<string, number>;
}

const perView = (counts: Record<string, number>, views: number): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).map(([name, n]) => [name, n / views]));

export async function probeRoundTrips(
  admin: Redis,
  server: ServerProcess,
  session: LoggedIn,
  views: number,
): Promise<ProbeResult> {
  const url = `${server.baseURL}/`;
  // One view first so that connections exist and scripts are loaded before counting.
  await request(url, { headers: { cookie: session.cookie } });
  const log = await monitorCommands(admin);
  const before = await snapshot(admin);
  for (let i = 0; i < views; i++) {
    const response = await request(url, { headers: { cookie: session.cookie } });
    if (response.status !== 200) throw new Error(`${server.name}: probe view answered ${response.status}`);
  }
  const after = await snapshot(admin);
  // MONITOR output trails the commands slightly.
  await sleep(200);
  await log.stop();
  const delta = diff(before, after);
  return {
    views,
    roundTripsPerView: delta.readsProcessed / views,
    topLevelPerView: perView(log.topLevel, views),
    inScriptsPerView: perView(log.inScripts, views),
  };
}
