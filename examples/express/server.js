// The tutorial's three routes on Express: `/` greets the logged-in user and counts their visits, POST
// /login starts a session, POST /logout ends it. Sessions live in Redis when REDIS_URL is set (through
// ioredis), in memory otherwise.
import express from "express";
import { createSessionManager } from "latchkey";
import { crossOriginProtection, latchkey } from "latchkey/express";
import { createMemoryStore } from "latchkey/memory";
import { createRedisStore } from "latchkey/redis";

const port = Number(process.env.PORT ?? 3000);
const store = process.env.REDIS_URL ? createRedisStore({ url: process.env.REDIS_URL }) : createMemoryStore();
const sessions = createSessionManager({ store, fields: { username: "string", visits: "integer" } });

const app = express();
app.use(crossOriginProtection()); // 403 for POSTs from other sites: no CSRF tokens needed
app.use(express.urlencoded({ extended: false }));
app.use(latchkey({ sessions }));

app.get("/", async (req, res) => {
  // One store round trip loads the session and adds 1 to `visits` atomically.
  const session = await req.session.load({ increment: { visits: 1 } });
  res.type("html").send(session ? homePage(session.data) : loginPage());
});

app.post("/login", async (req, res) => {
  // The tutorial's demo: a username and no password. A real app checks a password here.
  const username = String(req.body?.username ?? "").trim();
  if (username === "" || username.length > 64) {
    res.status(400).type("html").send(loginPage("Enter a username of at most 64 characters."));
    return;
  }
  await req.session.create(username, { data: { username } });
  res.redirect(303, "/");
});

app.post("/logout", async (req, res) => {
  await req.session.destroy();
  res.redirect(303, "/");
});

const server = app.listen(port, (error) => {
  if (error) throw error;
  console.log(`Listening on http://localhost:${server.address().port}`);
});

process.on("SIGTERM", () => {
  server.close(() => store.close());
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
  return `<!doctype html>\n<meta charset="utf-8">\n<title>latchkey on Express</title>\n${body}\n`;
}

function escapeHTML(text) {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
