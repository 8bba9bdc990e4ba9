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
  | "express-floor"
  | "hono-floor"
  | "express-latchkey"
  | "fastify-latchkey"
  | "hono-latchkey"
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
const APP_MAIN = here("../app/main.js");

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

/**
 * A server of bench/servers/ (a floor or a peer): started with the run's Redis, driven through the tiny
 * protocol, its session found in Redis under the key `sessionKey` reads from its cookies.
 */
function serverCase(
  id: CaseId,
  label: string,
  script: string,
  sessionKey: (cookies: Map<string, string>) => string,
  env: Record<string, string> = {},
): BenchCase {
  return {
    id,
    label,
    onRedis: true,
    start: (context) =>
      startScript(id, here(`./servers/${script}.js`), context, { REDIS_URL: context.redisURL, ...env }),
    login: peerLogin,
    logout: peerLogout,
    sessionExists: async (admin, session) => (await admin.exists(sessionKey(session.cookies))) === 1,
  };
}

/**
 * latchkey on a framework's adapter (bench/servers/*-latchkey.ts): a server of bench/servers/ driven through
 * the tiny protocol like the peers, its session found in Redis as the app's is.
 */
function adapterCase(id: CaseId, label: string, script: string): BenchCase {
  return { ...serverCase(id, label, script, () => ""), sessionExists: latchkeySessionExists };
}

/** The floors keep the raw token of cookie `t` in their key. */
const floorKey = (cookies: Map<string, string>): string => `s:${cookies.get("t")}`;
/** connect-redis keys a session by the id inside the signed cookie `name`. */
export const connectRedisKey =
  (name: string) =>
  (cookies: Map<string, string>): string =>
    `sess:${signedSessionId(cookies.get(name))}`;

/**
 * The reference app itself, as `npm start` would run it in production, driven through its own forms;
 * on its embedded store when not `onRedis`.
 */
function appCase(id: CaseId, label: string, onRedis: boolean, env: Record<string, string> = {}): BenchCase {
  return {
    id,
    label,
    onRedis,
    start: (context) =>
      startScript(id, APP_MAIN, context, {
        NODE_ENV: "production",
        REDIS_URL: onRedis ? context.redisURL : undefined,
        SESSION_IDLE_TIMEOUT: "1800",
        LOG_LEVEL: "warn",
        // Every bench client is one address (loopback), and the lost-update check opens 200 connections
        // at once: above the app's default share of 100 per client, which would refuse some of them.
        HTTP_MAX_CONNECTIONS_PER_CLIENT: "1000",
        ...env,
      }),
    login: latchkeyLogin(onRedis),
    logout: latchkeyLogout,
    sessionExists: onRedis ? latchkeySessionExists : async () => null,
  };
}

/**
 * `benchCase` with a replica of the run's Redis, started for this case only and stopped with its server,
 * so that no other case pays for replication; the replica's own CPU is not counted (it would run on
 * another machine).
 */
function withReplica(benchCase: BenchCase): BenchCase {
  return {
    ...benchCase,
    async start(context) {
      const replica = await startRedisServer({ replicaOf: Number(new URL(context.redisURL).port) });
      try {
        const server = await benchCase.start(context);
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
  };
}

export const ALL_CASES: readonly BenchCase[] = [
  serverCase("floor", "floor (node:http + ioredis, 1 EVALSHA)", "floor", floorKey),
  // The floor sending the app's security headers too: the same response as latchkey's, header for header.
  serverCase("floor-headers", "floor + the app's security headers", "floor", floorKey, {
    FLOOR_SECURITY_HEADERS: "1",
  }),
  serverCase(
    "fastify-floor",
    "floor on Fastify (bare fastify + ioredis, 1 EVALSHA)",
    "fastify-floor",
    floorKey,
  ),
  appCase("latchkey", "latchkey app (Redis store)", true),
  serverCase(
    "express-session",
    "express-session + connect-redis",
    "express-session",
    connectRedisKey("connect.sid"),
  ),
  serverCase(
    "fastify-session",
    "@fastify/session + connect-redis",
    "fastify-session",
    connectRedisKey("sessionId"),
  ),
  appCase("latchkey-memory", "latchkey app (memory store)", false),
  // Every write (each view counts a visit) waits for a replica's confirmation.
  withReplica(
    appCase("latchkey-wait", "latchkey app (Redis store, waitForReplicas 1)", true, {
      REDIS_WAIT_FOR_REPLICAS: "1",
    }),
  ),
  // Per framework (issue 21): the framework's floor, latchkey through its adapter, same page, same protocol.
  serverCase(
    "express-floor",
    "floor on Express (express + node-redis, 1 EVALSHA)",
    "express-floor",
    floorKey,
  ),
  adapterCase("express-latchkey", "latchkey/express (node-redis client)", "express-latchkey"),
  adapterCase("fastify-latchkey", "latchkey/fastify (ioredis)", "fastify-latchkey"),
  serverCase("hono-floor", "floor on Hono (hono + node-redis, 1 EVALSHA)", "hono-floor", floorKey),
  adapterCase("hono-latchkey", "latchkey/hono (node-redis client)", "hono-latchkey"),
];
