/**
 * latchkey on Hono: Hono 4 on @hono/node-server + `latchkey/hono` on `createRedisStore({ client })` with
 * a node-redis client, as docs/frameworks.md shows it, serving the floors' tiny protocol (POST
 * /login?username=…, POST /logout) and the same page. The bench's requests carry neither Origin nor
 * Sec-Fetch-Site, which the cross-origin check lets through (a non-browser client).
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createSessionManager } from "latchkey";
import { crossOriginProtection, latchkey } from "latchkey/hono";
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

const app = new Hono();
app.use(crossOriginProtection());
app.use(latchkey({ sessions }));

app.get("/", async (c) => {
  const session = await c.get("session").load({ increment: { visits: 1 } });
  if (!session) return c.html(NOT_LOGGED_IN_PAGE, 401);
  c.header("cache-control", "no-store");
  return c.html(renderPage(session.data.username ?? "", session.data.visits ?? 0));
});

app.post("/login", async (c) => {
  const username = usernameFrom(c.req.url);
  await c.get("session").create(username, { data: { username, visits: 0 } });
  return c.text("ok");
});

app.post("/logout", async (c) => {
  await c.get("session").destroy();
  return c.text("bye");
});

serve({ fetch: app.fetch, port, hostname: "127.0.0.1" });
