/**
 * Peer: fastify 5 + @fastify/cookie + @fastify/session on connect-redis (the store @fastify/session's
 * README points to), saveUninitialized false, rolling true and a 30-minute maxAge for the sliding TTL.
 */
import fastifyCookie from "@fastify/cookie";
import fastifySession from "@fastify/session";
import { RedisStore } from "connect-redis";
import Fastify, { type FastifyRequest } from "fastify";
import { createClient } from "redis";
import {
  exitOnSIGTERM,
  IDLE_TIMEOUT_SECONDS,
  NOT_LOGGED_IN_PAGE,
  renderPage,
  serverEnv,
  usernameFrom,
} from "./page.js";

declare module "fastify" {
  interface Session {
    username?: string;
    visits?: number;
  }
}

const sessionOf = (request: FastifyRequest): fastifySession.FastifySessionObject => request.session;

exitOnSIGTERM();
const { port, redisURL } = serverEnv();
const client = createClient({ url: redisURL });
client.on("error", (error: unknown) => console.error(error));
await client.connect();

const app = Fastify({ logger: false });
await app.register(fastifyCookie);
await app.register(fastifySession, {
  secret: "bench secret: not a secret at all, 32+ characters",
  store: new RedisStore({ client }) as unknown as fastifySession.SessionStore,
  saveUninitialized: false,
  rolling: true,
  cookie: { secure: false, maxAge: IDLE_TIMEOUT_SECONDS * 1000, httpOnly: true, sameSite: "lax" },
});

app.get("/", async (req, reply) => {
  const session = sessionOf(req);
  const username = session.get("username");
  if (username === undefined) return reply.code(401).type("text/html").send(NOT_LOGGED_IN_PAGE);
  const visits = (session.get("visits") ?? 0) + 1;
  session.set("visits", visits);
  return reply
    .header("cache-control", "no-store")
    .type("text/html; charset=utf-8")
    .send(renderPage(username, visits));
});

app.post("/login", async (req, reply) => {
  const session = sessionOf(req);
  await session.regenerate();
  // regenerate() replaces request.session: write to the new one.
  sessionOf(req).set("username", usernameFrom(req.url));
  sessionOf(req).set("visits", 0);
  return reply.send("ok");
});

app.post("/logout", async (req, reply) => {
  await sessionOf(req).destroy();
  return reply.send("bye");
});

await app.listen({ port, host: "127.0.0.1" });
