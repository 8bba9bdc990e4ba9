/**
 * The cases: how to start each server, log a user in, log out, and find the session in Redis.
 * The peers share a tiny protocol (POST /login?username=…, POST /logout); latchkey is driven through
 * the reference app's own forms (see latchkey-client.ts).
 */
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { startRedisServer } from "../test/harness/redis-servers.js";
import type { Form } from "./forms.js";
import { type HTTPResponse, request } from "./http.js";
import { latchkeyLogin, latchkeyLogout, latchkeySessionExists } from "./latchkey-client.js";
import { freePort } from "./net.js";
import { type ServerProcess, startServerProcess } from "./server-process.js";

export type CaseId =
  | "floor"
  | "floor-headers"
  | "fastify-floor"
  | "latchkey"
  | "express-session"
  | "fastify-session"
  | "latchkey-memory"
  | "latchkey-wait";

/** A logged-in client: the Cookie header to send, and the raw cookies for finding the session. */
export interface LoggedIn {
  cookie: string;
  cookies: Map<string, string>;
  /** latchkey only: the logout form found on the page after login. */
  logoutForm?: Form;
}

export interface CaseContext {
  redisURL: string;
  admin: Redis;
  /** Extra arguments for `node` (e.g. --cpu-prof) for the servers named in `profile`. */
  profileArgs: (id: CaseId) => string[];
  /** A command to run every server's `node` under (count-instructions.ts: valgrind). */
  launcher?: readonly string[];
  /** How long a server may take to answer after it starts (default 30 s). */
  startTimeoutMs?: number;
}

export interface BenchCase {
  id: CaseId;
  label: string;
  /** False for the memory-store case: its sessions are not in Redis. */
  onRedis: boolean;
  start(context: CaseContext): Promise<ServerProcess>;
  login(server: ServerProcess, username: string): Promise<LoggedIn>;
  logout(server: ServerProcess, session: LoggedIn): Promise<HTTPResponse>;
  /** Whether the session's key exists in Redis; null when the case does not keep sessions there. */
  sessionExists(admin: Redis, session: LoggedIn): Promise<boolean | null>;
}

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
export const APP_MAIN = here("../app/main.js");

async function startScript(
  id: CaseId,
  script: string,
  context: CaseContext,
  env: Record<string, string | undefined>,
): Promise<ServerProcess> {
  return startServerProcess({
    name: id,
    nodeArgs: [...context.profileArgs(id), script],
    ...(context.launcher ? { launcher: context.launcher } : {}),
    ...(context.startTimeoutMs ? { timeoutMs: context.startTimeoutMs } : {}),
    port: await freePort(),
    env,
  });
}

async function peerLogin(server: ServerProcess, username: string): Promise<LoggedIn> {
  const response = await request(`${server.baseURL}/login?username=${encodeURIComponent(username)}`, {
    method: "POST",
  });
  if (response.status !== 200 || response.setCookies.size === 0) {
    throw new Error(`${server.name}: login failed with ${response.status}: ${response.body}`);
  }
  const cookies = new Map(response.setCookies);
  return { cookies, cookie: [...cookies].map(([n, v]) => `${n}=${v}`).join("; ") };
}

function peerLogout(server: ServerProcess, session: LoggedIn): Promise<HTTPResponse> {
  return request(`${server.baseURL}/logout`, { method: "POST", headers: { cookie: session.cookie } });
}

/** The session id inside a signed cookie: `s:<id>.<sig>` (express-session) or `<id>.<sig>` (@fastify/cookie). */
function signedSessionId(value: string | undefined): string {
  const text = decodeURIComponent(value ?? "");
  const unprefixed = text.startsWith("s:") ? text.slice(2) : text;
  return unprefixed.slice(0, unprefixed.lastIndexOf("."));
}

async function keyExists(admin: Redis, key: string): Promise<boolean> {
  return (await admin.exists(key)) === 1;
}

const floor: BenchCase = {
  id: "floor",
  label: "floor (node:http + ioredis, 1 EVALSHA)",
  onRedis: true,
  start: (context) =>
    startScript("floor", here("./servers/floor.js"), context, { REDIS_URL: context.redisURL }),
  login: peerLogin,
  logout: peerLogout,
  sessionExists: (admin, session) => keyExists(admin, `s:${session.cookies.get("t")}`),
};

/** The floor sending the app's security headers too: the same response as latchkey's, header for header. */
const floorWithHeaders: BenchCase = {
  id: "floor-headers",
  label: "floor + the app's security headers",
  onRedis: true,
  start: (context) =>
    startScript("floor-headers", here("./servers/floor.js"), context, {
      REDIS_URL: context.redisURL,
      FLOOR_SECURITY_HEADERS: "1",
    }),
  login: peerLogin,
  logout: peerLogout,
  sessionExists: (admin, session) => keyExists(admin, `s:${session.cookies.get("t")}`),
};

const fastifyFloor: BenchCase = {
  id: "fastify-floor",
  label: "floor on Fastify (bare fastify + ioredis, 1 EVALSHA)",
  onRedis: true,
  start: (context) =>
    startScript("fastify-floor", here("./servers/fastify-floor.js"), context, {
      REDIS_URL: context.redisURL,
    }),
  login: peerLogin,
  logout: peerLogout,
  sessionExists: (admin, session) => keyExists(admin, `s:${session.cookies.get("t")}`),
};

const expressSession: BenchCase = {
  id: "express-session",
  label: "express-session + connect-redis",
  onRedis: true,
  start: (context) =>
    startScript("express-session", here("./servers/express-session.js"), context, {
      REDIS_URL: context.redisURL,
    }),
  login: peerLogin,
  logout: peerLogout,
  sessionExists: (admin, session) =>
    keyExists(admin, `sess:${signedSessionId(session.cookies.get("connect.sid"))}`),
};

const fastifySession: BenchCase = {
  id: "fastify-session",
  label: "@fastify/session + connect-redis",
  onRedis: true,
  start: (context) =>
    startScript("fastify-session", here("./servers/fastify-session.js"), context, {
      REDIS_URL: context.redisURL,
    }),
  login: peerLogin,
  logout: peerLogout,
  sessionExists: (admin, session) =>
    keyExists(admin, `sess:${signedSessionId(session.cookies.get("sessionId"))}`),
};

/** The environment of the real app, as `npm start` would get it in production. */
function appEnv(redisURL: string | undefined): Record<string, string | undefined> {
  return {
    NODE_ENV: "production",
    REDIS_URL: redisURL,
    SESSION_IDLE_TIMEOUT: "1800",
    LOG_LEVEL: "warn",
  };
}

const latchkey: BenchCase = {
  id: "latchkey",
  label: "latchkey app (Redis store)",
  onRedis: true,
  start: (context) => startScript("latchkey", APP_MAIN, context, appEnv(context.redisURL)),
  login: latchkeyLogin(true),
  logout: latchkeyLogout,
  sessionExists: latchkeySessionExists,
};

/**
 * The app with REDIS_WAIT_FOR_REPLICAS=1: every write (each view counts a visit) waits for a replica's
 * confirmation. The replica is started for this case only and stopped with it, so that no other case
 * pays for replication; its own CPU is not counted (it would run on another machine).
 */
const latchkeyWait: BenchCase = {
  id: "latchkey-wait",
  label: "latchkey app (Redis store, waitForReplicas 1)",
  onRedis: true,
  async start(context) {
    const replica = await startRedisServer({ replicaOf: Number(new URL(context.redisURL).port) });
    try {
      const server = await startScript("latchkey-wait", APP_MAIN, context, {
        ...appEnv(context.redisURL),
        REDIS_WAIT_FOR_REPLICAS: "1",
      });
      return {
        ...server,
        async stop() {
          await server.stop();
          await replica.stop();
        },
      };
    } catch (error) {
      await replica.stop();
      throw error;
    }
  },
  login: latchkeyLogin(true),
  logout: latchkeyLogout,
  sessionExists: latchkeySessionExists,
};

const latchkeyMemory: BenchCase = {
  id: "latchkey-memory",
  label: "latchkey app (memory store)",
  onRedis: false,
  start: (context) => startScript("latchkey-memory", APP_MAIN, context, appEnv(undefined)),
  login: latchkeyLogin(false),
  logout: latchkeyLogout,
  sessionExists: async () => null,
};

export const ALL_CASES: readonly BenchCase[] = [
  floor,
  floorWithHeaders,
  fastifyFloor,
  latchkey,
  expressSession,
  fastifySession,
  latchkeyMemory,
  latchkeyWait,
];
