/**
 * The two correctness checks, run against every case with a fresh session each:
 *
 * - lost updates: N concurrent views of one session; a store that reads the whole session, changes it in
 *   the process and writes it back loses increments that overlap.
 * - the logout race: views in flight while the user logs out; a store that writes the whole session back
 *   at the end of a request recreates the session the logout just deleted, so the old cookie works again.
 */
import { Agent } from "node:http";
import type { Redis } from "ioredis";
import type { BenchCase, LoggedIn } from "./cases.js";
import { type HTTPResponse, isLoggedInPage, request, visitsOf } from "./http.js";
import type { ServerProcess } from "./server-process.js";

export interface LostUpdateResult {
  expected: number;
  observed: number;
  lost: number;
  /** Views that did not answer 200 with the page. */
  failedViews: number;
}

export interface LogoutRaceResult {
  views: number;
  /** Views answered with the logged-in page (some before the logout, some racing it). */
  loggedInViews: number;
  logoutStatus: number;
  /** After everything finished: does GET / with the old cookie show a logged-in page? */
  oldCookieWorks: boolean;
  /** After everything finished: does the session's key exist in Redis? null: not kept in Redis. */
  keyExists: boolean | null;
  resurrected: boolean;
}

async function view(server: ServerProcess, session: LoggedIn, agent?: Agent): Promise<HTTPResponse> {
  return request(
    `${server.baseURL}/`,
    agent ? { headers: { cookie: session.cookie }, agent } : { headers: { cookie: session.cookie } },
  );
}

async function visits(server: ServerProcess, session: LoggedIn): Promise<number> {
  const response = await view(server, session);
  const count = visitsOf(response.body);
  if (response.status !== 200 || count === null) {
    throw new Error(
      `${server.name}: GET / is not a logged-in page (${response.status}): ${response.body.slice(0, 300)}`,
    );
  }
  return count;
}

/** Fires `count` requests at once, each on its own connection. */
async function burst(
  count: number,
  send: (agent: Agent) => Promise<HTTPResponse>,
): Promise<(HTTPResponse | null)[]> {
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  try {
    return await Promise.all(Array.from({ length: count }, () => send(agent).catch(() => null)));
  } finally {
    agent.destroy();
  }
}

export async function checkLostUpdates(
  benchCase: BenchCase,
  server: ServerProcess,
  views: number,
): Promise<LostUpdateResult> {
  const session = await benchCase.login(server, `lost-${benchCase.id}`);
  const before = await visits(server, session);
  const responses = await burst(views, (agent) => view(server, session, agent));
  const failedViews = responses.filter(
    (r) => r === null || r.status !== 200 || visitsOf(r.body) === null,
  ).length;
  // This read is itself a view: it counts one more.
  const observed = (await visits(server, session)) - before - 1;
  return { expected: views, observed, lost: views - observed, failedViews };
}

export async function checkLogoutRace(
  benchCase: BenchCase,
  server: ServerProcess,
  admin: Redis,
  views: number,
): Promise<LogoutRaceResult> {
  const session = await benchCase.login(server, `race-${benchCase.id}`);
  await visits(server, session);
  // Connections opened beforehand, so that the views and the logout reach the server together.
  const agent = new Agent({ keepAlive: true, maxSockets: views });
  await Promise.all(
    Array.from({ length: views }, () =>
      request(`${server.baseURL}/bench-warm-up`, { agent }).catch(() => null),
    ),
  );
  const send = (): Promise<HTTPResponse | null> => view(server, session, agent).catch(() => null);
  const half = Math.floor(views / 2);
  // Sent in one go, in this order: half the views, the logout, the other half. The server reads them in
  // the same turn of its event loop, so the logout overlaps views that have read the session.
  const first = Array.from({ length: half }, send);
  const logout = benchCase.logout(server, session);
  const second = Array.from({ length: views - half }, send);
  const [logoutResponse, ...responses] = await Promise.all([logout, ...first, ...second]);
  agent.destroy();
  // Look in Redis before GET / with the old cookie: that request could write the session back itself.
  const keyExists = await benchCase.sessionExists(admin, session);
  const after = await view(server, session);
  const oldCookieWorks = after.status === 200 && isLoggedInPage(after.body);
  return {
    views,
    loggedInViews: responses.filter((r) => r !== null && r.status === 200 && isLoggedInPage(r.body)).length,
    logoutStatus: logoutResponse.status,
    oldCookieWorks,
    keyExists,
    resurrected: oldCookieWorks || keyExists === true,
  };
}
