/**
 * The floor on Hono: the floor's session handling (an opaque token, ONE EVALSHA per view) in a bare Hono 4
 * app on @hono/node-server and a node-redis client. The distance from here to hono-latchkey is what
 * latchkey's Hono adapter and engine add on top of Hono and node-redis.
 */
import { randomBytes } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { connectFloorNodeRedis } from "./floor-node-redis.js";
import { floorToken, TOKEN_COOKIE } from "./floor-script.js";
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
const redis = await connectFloorNodeRedis(redisURL);

const keyOf = (token: string): string => `s:${token}`;

const app = new Hono();

app.get("/", async (c) => {
  const token = floorToken(c.req.header("cookie"));
  const result = token ? await redis.view(keyOf(token), IDLE_TIMEOUT_SECONDS) : null;
  if (!result) return c.html(NOT_LOGGED_IN_PAGE, 401);
  c.header("cache-control", "no-store");
  return c.html(renderPage(result[0], result[1]));
});

app.post("/login", async (c) => {
  const token = randomBytes(32).toString("base64url");
  const key = keyOf(token);
  await redis.client
    .multi()
    .hSet(key, { username: usernameFrom(c.req.url), visits: 0 })
    .expire(key, IDLE_TIMEOUT_SECONDS)
    .exec();
  c.header(
    "set-cookie",
    `${TOKEN_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${IDLE_TIMEOUT_SECONDS}`,
  );
  return c.text("ok");
});

app.post("/logout", async (c) => {
  const token = floorToken(c.req.header("cookie"));
  if (token) await redis.client.del(keyOf(token));
  c.header("set-cookie", `${TOKEN_COOKIE}=; Path=/; Max-Age=0`);
  return c.text("bye");
});

serve({ fetch: app.fetch, port, hostname: "127.0.0.1" });
