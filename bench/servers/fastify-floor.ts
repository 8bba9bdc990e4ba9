/**
 * The floor on Fastify: the floor's session handling (an opaque token, ONE EVALSHA per view) in a bare
 * Fastify app. The distance from here to the latchkey app is what latchkey and the app add on top of
 * Fastify; the distance from the floor to here is what Fastify itself costs.
 */
import { randomBytes } from "node:crypto";
import Fastify from "fastify";
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

const keyOf = (token: string): string => `s:${token}`;

const app = Fastify({ logger: false });

app.get("/", async (request, reply) => {
  const token = floorToken(request.headers.cookie);
  const result = token ? await redis.view(keyOf(token), IDLE_TIMEOUT_SECONDS) : null;
  if (!result) return reply.code(401).type("text/html; charset=utf-8").send(NOT_LOGGED_IN_PAGE);
  return reply
    .header("cache-control", "no-store")
    .type("text/html; charset=utf-8")
    .send(renderPage(result[0], result[1]));
});

app.post("/login", async (request, reply) => {
  const token = randomBytes(32).toString("base64url");
  const key = keyOf(token);
  await redis
    .multi()
    .hset(key, { username: usernameFrom(request.url), visits: 0 })
    .expire(key, IDLE_TIMEOUT_SECONDS)
    .exec();
  return reply
    .header(
      "set-cookie",
      `${TOKEN_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${IDLE_TIMEOUT_SECONDS}`,
    )
    .send("ok");
});

app.post("/logout", async (request, reply) => {
  const token = floorToken(request.headers.cookie);
  if (token) await redis.del(keyOf(token));
  return reply.header("set-cookie", `${TOKEN_COOKIE}=; Path=/; Max-Age=0`).send("bye");
});

await app.listen({ port, host: "127.0.0.1" });
