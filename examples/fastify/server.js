// The tutorial's three routes on Fastify: `/` greets the logged-in user and counts their visits, POST
// /login starts a session, POST /logout ends it. Sessions live in Redis when REDIS_URL is set (through
// ioredis), in memory otherwise.
import Fastify from "fastify";
import { createSessionManager } from "latchkey";
import { crossOriginProtection, latchkey } from "latchkey/fastify";
import { createMemoryStore } from "latchkey/memory";
import { createRedisStore } from "latchkey/redis";

const port = Number(process.env.PORT ?? 3000);
const store = process.env.REDIS_URL ? createRedisStore({ url: process.env.REDIS_URL }) : createMemoryStore();
const sessions = createSessionManager({ store, fields: { username: "string", visits: "integer" } });

const app = Fastify();
// HTML forms post application/x-www-form-urlencoded: URLSearchParams parses it, no plugin needed.
app.addContentTypeParser(
  "application/x-www-form-urlencoded",
  { parseAs: "string" },
  (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body)));
  },
);
await app.register(crossOriginProtection); // 403 for POSTs from other sites: no CSRF tokens needed
await app.register(latchkey, { sessions });
app.addHook("onClose", () => store.close());

app.get("/", async (request, reply) => {
  // One store round trip loads the session and adds 1 to `visits` atomically.
  const session = await request.session.load({ increment: { visits: 1 } });
  return reply.type("text/html; charset=utf-8").send(session ? homePage(session.data) : loginPage());
});

app.post("/login", async (request, reply) => {
  // The tutorial's demo: a username and no password. A real app checks a password here.
  const username = String(request.body?.username ?? "").trim();
  if (username === "" || username.length > 64) {
    return reply
      .code(400)
      .type("text/html; charset=utf-8")
      .send(loginPage("Enter a username of at most 64 characters."));
  }
  await request.session.create(username, { data: { username } });
  return reply.redirect("/", 303);
});

app.post("/logout", async (request, reply) => {
  await request.session.destroy();
  return reply.redirect("/", 303);
});

await app.listen({ port });
console.log(`Listening on http://localhost:${app.server.address().port}`);

process.on("SIGTERM", () => app.close());

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
  return `<!doctype html>\n<meta charset="utf-8">\n<title>latchkey on Fastify</title>\n${body}\n`;
}

function escapeHTML(text) {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
