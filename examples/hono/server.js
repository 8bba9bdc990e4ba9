// The tutorial's three routes on Hono (Node, @hono/node-server): `/` greets the logged-in user and counts
// their visits, POST /login starts a session, POST /logout ends it. Sessions live in Redis when
// REDIS_URL is set (through node-redis), in memory otherwise.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createSessionManager } from "latchkey";
import { crossOriginProtection, latchkey } from "latchkey/hono";
import { createMemoryStore } from "latchkey/memory";
import { createRedisStore } from "latchkey/redis";
import { createClient } from "redis";

const port = Number(process.env.PORT ?? 3000);
const redis = process.env.REDIS_URL
  ? await createClient({ url: process.env.REDIS_URL })
      .on("error", (error) => console.error(`Redis: ${error.message}`))
      .connect()
  : undefined;
// A store made from your client leaves it open on close(): it is closed below.
const store = redis ? createRedisStore({ client: redis }) : createMemoryStore();
const sessions = createSessionManager({ store, fields: { username: "string", visits: "integer" } });

const app = new Hono();
app.use(crossOriginProtection()); // 403 for POSTs from other sites: no CSRF tokens needed
app.use(latchkey({ sessions }));

app.get("/", async (c) => {
  // One store round trip loads the session and adds 1 to `visits` atomically.
  const session = await c.get("session").load({ increment: { visits: 1 } });
  return c.html(session ? homePage(session.data) : loginPage());
});

app.post("/login", async (c) => {
  // The tutorial's demo: a username and no password. A real app checks a password here.
  const form = await c.req.parseBody();
  const username = typeof form.username === "string" ? form.username.trim() : "";
  if (username === "" || username.length > 64) {
    return c.html(loginPage("Enter a username of at most 64 characters."), 400);
  }
  await c.get("session").create(username, { data: { username } });
  return c.redirect("/", 303);
});

app.post("/logout", async (c) => {
  await c.get("session").destroy();
  return c.redirect("/", 303);
});

const server = serve({ fetch: app.fetch, port }, (info) => {
  console.log(`Listening on http://localhost:${info.port}`);
});

process.on("SIGTERM", () => {
  server.close(async () => {
    await store.close();
    await redis?.close();
  });
});

function homePage({ username, visits }) {
  return page(`<p>Logged in as ${escapeHTML(username)}. Visits: ${visits}</p>
<form method="post" action="/logout"><button>Log out</button></form>`);
}

function loginPage(message = "") {
  return page(`<p>You are not logged in.</p>${message && `<p>${escapeHTML(message)}</p>`}
<form method="post" action="/login">
<label>Username <input name="username" required maxlength="64"></label> <button>Log in</button>
</form>`);
}

function page(body) {
  return `<!doctype html>\n<meta charset="utf-8">\n<title>latchkey on Hono</title>\n${body}\n`;
}

function escapeHTML(text) {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
