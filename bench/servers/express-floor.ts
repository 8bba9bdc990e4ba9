/**
 * The floor on Express: the floor's session handling (an opaque token, ONE EVALSHA per view) in a bare
 * Express 5 app on a node-redis client, the client express-session's case uses. The distance from here to
 * express-latchkey is what latchkey's Express adapter and engine add on top of Express and node-redis.
 */
import { randomBytes } from "node:crypto";
import express from "express";
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

const app = express();

app.get("/", async (req, res) => {
  const token = floorToken(req.headers.cookie);
  const result = token ? await redis.view(keyOf(token), IDLE_TIMEOUT_SECONDS) : null;
  if (!result) {
    res.status(401).type("html").send(NOT_LOGGED_IN_PAGE);
    return;
  }
  res.set("cache-control", "no-store").type("html").send(renderPage(result[0], result[1]));
});

app.post("/login", async (req, res) => {
  const token = randomBytes(32).toString("base64url");
  const key = keyOf(token);
  await redis.client
    .multi()
    .hSet(key, { username: usernameFrom(req.url), visits: 0 })
    .expire(key, IDLE_TIMEOUT_SECONDS)
    .exec();
  res
    .set(
      "set-cookie",
      `${TOKEN_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${IDLE_TIMEOUT_SECONDS}`,
    )
    .send("ok");
});

app.post("/logout", async (req, res) => {
  const token = floorToken(req.headers.cookie);
  if (token) await redis.client.del(keyOf(token));
  res.set("set-cookie", `${TOKEN_COOKIE}=; Path=/; Max-Age=0`).send("bye");
});

app.listen(port, "127.0.0.1");
