/**
 * The floor: what a session-backed page costs at the least. Bare node:http and ioredis, an opaque token
 * in a cookie, and ONE Redis round trip per view: a script that checks the session exists, increments
 * the counter, slides the TTL and returns the username. No signing, no hashing, no framework.
 *
 * With FLOOR_SECURITY_HEADERS=1 it also sends the reference app's security headers on every response, so
 * that its responses match the app's header for header: the distance from the bare floor to that one is
 * what those headers cost in Node's HTTP layer alone.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { SECURITY_HEADERS } from "../../app/security-headers.js";
import { connectFloorRedis, floorToken, TOKEN_COOKIE } from "./floor-script.js";
import {
  exitOnSIGTERM,
  IDLE_TIMEOUT_SECONDS,
  NOT_LOGGED_IN_PAGE,
  renderPage,
  serverEnv,
  usernameFrom,
} from "./page.js";

exitOnSIGTERM();
const { port, redisURL } = serverEnv();
const redis = connectFloorRedis(redisURL);
const securityHeaders = process.env.FLOOR_SECURITY_HEADERS === "1" ? SECURITY_HEADERS : {};

const keyOf = (token: string): string => `s:${token}`;

function tokenOf(req: IncomingMessage): string | undefined {
  return floorToken(req.headers.cookie);
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    ...securityHeaders,
    ...headers,
  });
  res.end(body);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?", 1)[0];
  if (req.method === "GET" && path === "/") {
    const token = tokenOf(req);
    const result = token ? await redis.view(keyOf(token), IDLE_TIMEOUT_SECONDS) : null;
    if (!result) return send(res, 401, NOT_LOGGED_IN_PAGE);
    return send(res, 200, renderPage(result[0], result[1]));
  }
  if (req.method === "POST" && path === "/login") {
    const token = randomBytes(32).toString("base64url");
    const key = keyOf(token);
    await redis
      .multi()
      .hset(key, { username: usernameFrom(req.url), visits: 0 })
      .expire(key, IDLE_TIMEOUT_SECONDS)
      .exec();
    return send(res, 200, "ok", {
      "set-cookie": `${TOKEN_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${IDLE_TIMEOUT_SECONDS}`,
    });
  }
  if (req.method === "POST" && path === "/logout") {
    const token = tokenOf(req);
    if (token) await redis.del(keyOf(token));
    return send(res, 200, "bye", { "set-cookie": `${TOKEN_COOKIE}=; Path=/; Max-Age=0` });
  }
  send(res, 404, "not found");
}

createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    console.error(error);
    if (!res.headersSent) send(res, 500, "error");
  });
}).listen(port, "127.0.0.1");
