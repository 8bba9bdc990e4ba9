/**
 * latchkey on Express: Express 5 + `latchkey/express` on `createRedisStore({ client })` with a node-redis
 * client, as docs/frameworks.md shows it, serving the floors' tiny protocol (POST /login?username=…,
 * POST /logout) and the same page. The bench's requests carry neither Origin nor Sec-Fetch-Site, which
 * the cross-origin check lets through (a non-browser client).
 */
import express from "express";
import { createSessionManager } from "latchkey";
import { crossOriginProtection, latchkey } from "latchkey/express";
import { createRedisStore } from "latchkey/redis";
import { createClient } from "redis";
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
const client = createClient({ url: redisURL });
client.on("error", (error: unknown) => console.error(error));
await client.connect();
const sessions = createSessionManager({
  store: createRedisStore({ client }),
  fields: { username: "string", visits: "integer" },
  idleTimeoutSeconds: IDLE_TIMEOUT_SECONDS,
});

const app = express();
app.use(crossOriginProtection());
app.use(latchkey({ sessions }));

app.get("/", async (req, res) => {
  const session = await req.session.load({ increment: { visits: 1 } });
  if (!session) {
    res.status(401).type("html").send(NOT_LOGGED_IN_PAGE);
    return;
  }
  res
    .set("cache-control", "no-store")
    .type("html")
    .send(renderPage(session.data.username ?? "", session.data.visits ?? 0));
});

app.post("/login", async (req, res) => {
  const username = usernameFrom(req.url);
  await req.session.create(username, { data: { username, visits: 0 } });
  res.send("ok");
});

app.post("/logout", async (req, res) => {
  await req.session.destroy();
  res.send("bye");
});

app.listen(port, "127.0.0.1");
