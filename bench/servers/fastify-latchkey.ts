/**
 * latchkey on Fastify: Fastify 5 + `latchkey/fastify` on `createRedisStore({ url })` (ioredis, the client
 * the floor on Fastify uses), as docs/frameworks.md shows it, serving the floors' tiny protocol (POST
 * /login?username=…, POST /logout) and the same page. Unlike the reference app (also on Fastify), no
 * security headers, logging, accounts or forms: the adapter and the engine alone.
 */
import Fastify from "fastify";
import { createSessionManager } from "latchkey";
import { crossOriginProtection, latchkey } from "latchkey/fastify";
import { createRedisStore } from "latchkey/redis";
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
const sessions = createSessionManager({
  store: createRedisStore({ url: redisURL }),
  fields: { username: "string", visits: "integer" },
  idleTimeoutSeconds: IDLE_TIMEOUT_SECONDS,
});

const app = Fastify({ logger: false });
await app.register(crossOriginProtection);
await app.register(latchkey, { sessions });

app.get("/", async (request, reply) => {
  const session = await request.session.load({ increment: { visits: 1 } });
  if (!session) return reply.code(401).type("text/html; charset=utf-8").send(NOT_LOGGED_IN_PAGE);
  return reply
    .header("cache-control", "no-store")
    .type("text/html; charset=utf-8")
    .send(renderPage(session.data.username ?? "", session.data.visits ?? 0));
});

app.post("/login", async (request, reply) => {
  const username = usernameFrom(request.url);
  await request.session.create(username, { data: { username, visits: 0 } });
  return reply.send("ok");
});

app.post("/logout", async (request, reply) => {
  await request.session.destroy();
  return reply.send("bye");
});

await app.listen({ port, host: "127.0.0.1" });
