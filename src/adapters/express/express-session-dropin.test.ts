import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { before, describe, test } from "node:test";
// connect-flash 0.1.1, passport 0.7.0 and passport-local 1.0.0 declare engines ">=0.4.0": all run on Node 20.
import flash from "connect-flash";
import express from "express";
import { Redis } from "ioredis";
import passport from "passport";
import { Strategy as LocalStrategy } from "passport-local";
import { createClient } from "redis";
import { type RedisServerHandle, startRedisServer } from "../../../test/harness/redis-servers.js";
import { suiteResources } from "../../../test/harness/suite-resources.js";
import { createSessionManager, type SessionManager } from "../../core/session-manager.js";
import { createRedisStore } from "../../stores/redis/index.js";
import { type ExpressSession, type ExpressSessionStoreLike, expressSession } from "./index.js";

/**
 * The drop-in under Passport (passport-local), connect-flash and plain express-session-style handlers,
 * on Express 5 and 4, against a redis-server of the suite's own, through a node-redis and an ioredis
 * client. Every check reads Redis through a manager of its own (as another process would).
 */
const require = createRequire(import.meta.url);
const express4 = require("express4") as typeof express;

const USERS: Record<string, { id: string; password: string }> = {
  ada: { id: "u-ada", password: "lovelace" },
  grace: { id: "u-grace", password: "hopper" },
  alan: { id: "u-alan", password: "turing" },
  edsger: { id: "u-edsger", password: "dijkstra" },
  barbara: { id: "u-barbara", password: "liskov" },
  ken: { id: "u-ken", password: "thompson" },
};
const nameOf = (id: string) => Object.keys(USERS).find((name) => USERS[name]?.id === id);

/** Managers without `fields`, as the drop-in asks: every property is a string field holding its JSON. */
type Sessions = SessionManager<Record<string, "string">>;
type Handler = (req: express.Request, res: express.Response, next: express.NextFunction) => void;
/** `req.session` as the drop-in gives it (in this program, latchkey's own adapter types `req.session`). */
const sessionOf = (req: express.Request) => (req as unknown as { session: ExpressSession }).session;
const sessionIdOf = (req: express.Request) => (req as unknown as { sessionID: string | undefined }).sessionID;

/** Holds requests that ask for it (`?gate=name`) until the test opens the gate. */
class Gates {
  #waiting = new Map<
    string,
    { opened: Promise<void>; open: () => void; reached: () => void; arrived: Promise<void> }
  >();
  #get(name: string) {
    let gate = this.#waiting.get(name);
    if (!gate) {
      let open = () => {};
      let reached = () => {};
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      const arrived = new Promise<void>((resolve) => {
        reached = resolve;
      });
      gate = { opened, open, reached, arrived };
      this.#waiting.set(name, gate);
    }
    return gate;
  }
  pass(name: string | undefined): Promise<void> {
    if (name === undefined) return Promise.resolve();
    const gate = this.#get(name);
    gate.reached();
    return gate.opened;
  }
  arrived = (name: string) => this.#get(name).arrived;
  open = (name: string) => this.#get(name).open();
}

/** The app of the issue: express.urlencoded, expressSession, passport.session, /login and /logout, and routes for each check. */
function passportApp(sessions: Sessions, gates: Gates, framework: typeof express = express): Server {
  const authenticator = new passport.Passport();
  authenticator.use(
    new LocalStrategy((username, password, done) => {
      const user = USERS[username];
      if (user?.password !== password) return done(null, false, { message: "Wrong user name or password." });
      return done(null, { id: user.id, username });
    }),
  );
  authenticator.serializeUser((user, done) => done(null, (user as { id: string }).id));
  authenticator.deserializeUser((id: string, done) => {
    const username = nameOf(id);
    done(null, username ? { id, username } : false);
  });

  const app = framework();
  app.use(framework.urlencoded({ extended: false }));
  app.use(expressSession({ sessions: sessions as never }) as Handler);
  app.use(flash());
  app.use(authenticator.session());
  app.post(
    "/login",
    authenticator.authenticate("local", {
      successRedirect: "/",
      failureRedirect: "/?failed",
      failureFlash: true,
    }),
  );
  app.post("/logout", (req, res, next) => req.logout((err) => (err ? next(err) : res.redirect("/"))));
  app.get("/", (req, res) => {
    res.json({
      user: (req.user as { username?: string } | undefined)?.username ?? null,
      errors: req.flash("error"),
      sessionID: sessionIdOf(req) ?? null,
    });
  });
  app.get("/data", (req, res) => {
    res.json({ ...sessionOf(req) });
  });
  // Sets the query's properties (JSON values) after an optional gate; `drop` deletes one.
  app.post("/set", (req, res, next) => {
    const session = sessionOf(req);
    gates.pass(req.query.gate as string | undefined).then(() => {
      for (const [name, value] of Object.entries(req.query)) {
        if (name === "gate") continue;
        if (name === "drop") delete session[value as string];
        else session[name] = JSON.parse(value as string);
      }
      res.json({ ok: true });
    }, next);
  });
  app.post("/bad", (req, res) => {
    const session = sessionOf(req);
    const kind = req.query.kind;
    session.fine = "written with the bad one, or not at all";
    if (kind === "bigint") session.amount = 10n;
    if (kind === "cycle") {
      const node: Record<string, unknown> = {};
      node.self = node;
      session.graph = node;
    }
    // Each under maxFieldBytes (8192), together over maxSessionBytes (32768): the store's check.
    if (kind === "big") for (let i = 0; i < 5; i++) session[`blob${i}`] = "x".repeat(7000);
    res.redirect("/");
  });
  // Writes the body before putting something in the session: too late for a new session's cookie.
  app.get("/stream", (req, res) => {
    res.write("partial ");
    sessionOf(req).late = true;
    res.end("end");
  });
  app.post("/regenerate", (req, res, next) => {
    const before = sessionIdOf(req);
    sessionOf(req).regenerate((err) => {
      if (err) return next(err);
      sessionOf(req).afterRegenerate = true;
      sessionOf(req).save((saveErr) =>
        saveErr ? next(saveErr) : res.json({ before, after: sessionIdOf(req) }),
      );
    });
  });
  app.post("/destroy", (req, res, next) => {
    sessionOf(req).destroy((err) => (err ? next(err) : res.json({ session: sessionOf(req) ?? null })));
  });
  app.get("/reload", (req, res, next) => {
    const session = sessionOf(req);
    gates.pass(req.query.gate as string | undefined).then(() => {
      session.reload((err) =>
        err ? next(err) : res.json({ ...sessionOf(req), same: sessionOf(req) === session }),
      );
    }, next);
  });
  app.get("/cookie", (req, res) => {
    const { cookie } = sessionOf(req);
    cookie.maxAge = 1000; // express-session's "remember me": accepted, and changes nothing
    res.json({ ...cookie, maxAge: cookie.maxAge, keys: Object.keys(sessionOf(req)) });
  });
  app.use(
    (
      err: { status?: number; message: string; cause?: { message?: string } },
      _req: express.Request,
      res: express.Response,
      _next: express.NextFunction,
    ) => {
      res.status(err.status ?? 500).json({ error: err.message, cause: err.cause?.message ?? null });
    },
  );
  return createServer(app);
}

/** A browser: a cookie jar, form posts, redirects not followed. */
class Browser {
  readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}
  async request(method: string, path: string, form?: Record<string, string>) {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([n, v]) => `${n}=${v}`).join("; ");
    if (form) headers["content-type"] = "application/x-www-form-urlencoded";
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: form ? new URLSearchParams(form).toString() : undefined,
      redirect: "manual",
    });
    const setCookies = response.headers.getSetCookie();
    for (const cookie of setCookies) {
      const [pair = ""] = cookie.split(";");
      const name = pair.slice(0, pair.indexOf("="));
      const value = pair.slice(pair.indexOf("=") + 1);
      if (/Max-Age=0/.test(cookie)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {}
    return { status: response.status, location: response.headers.get("location"), setCookies, body };
  }
  login(username: string, password = USERS[username]?.password ?? "") {
    return this.request("POST", "/login", { username, password });
  }
  get token(): string | undefined {
    return this.cookies.get("lk");
  }
}

async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Client {
  name: string;
  /** A connected client of this kind to `url`, closed after the suite. */
  connect(url: string, defer: (cleanup: () => Promise<void>) => void): Promise<unknown>;
}
const CLIENTS: Client[] = [
  {
    name: "node-redis",
    async connect(url, defer) {
      const client = await createClient({ url })
        .on("error", () => {})
        .connect();
      defer(async () => void (await client.close().catch(() => {})));
      return client;
    },
  },
  {
    name: "ioredis",
    async connect(url, defer) {
      const client = new Redis(url, { maxRetriesPerRequest: 0, lazyConnect: true });
      client.on("error", () => {});
      await client.connect();
      defer(async () => void client.disconnect());
      return client;
    },
  },
];

for (const kind of CLIENTS) {
  describe(`expressSession with Passport and connect-flash, on a ${kind.name} client`, () => {
    const { started, defer } = suiteResources();
    let redis: RedisServerHandle;
    /** The app's manager (over the client) and another process's (over a connection of its own). */
    let sessions: Sessions;
    let elsewhere: Sessions;
    /** A plain connection, to count keys. */
    let raw: { dbSize(): Promise<number> };
    const gates = new Gates();
    let base: string;

    before(async () => {
      redis = await started();
      const client = await kind.connect(redis.url, defer);
      sessions = createSessionManager({ store: createRedisStore({ client: client as never }) });
      const store = createRedisStore({ url: redis.url });
      defer(() => store.close());
      elsewhere = createSessionManager({ store });
      const plain = await createClient({ url: redis.url }).connect();
      defer(async () => void (await plain.close()));
      raw = plain;
      const app = await listen(passportApp(sessions, gates));
      defer(app.close);
      base = app.url;
    });

    test("a visitor who never writes costs no store write and gets no cookie; a failed login flashes its error once", async () => {
      const browser = new Browser(base);
      const keysBefore = await raw.dbSize();
      const page = await browser.request("GET", "/");
      assert.deepEqual(page.body, { user: null, errors: [], sessionID: null });
      assert.deepEqual(page.setCookies, [], "reading connect-flash's messages starts no session");
      assert.equal(await raw.dbSize(), keysBefore, "nothing was written to Redis");

      const failed = await browser.login("ada", "wrong");
      assert.equal(failed.status, 302);
      assert.equal(failed.location, "/?failed");
      assert.ok(browser.token, "the flash message needed a session, and got a cookie");
      const anonymous = await elsewhere.load(browser.token);
      assert.equal(anonymous?.userId, null, "an anonymous session, in no user's index");
      const shown = await browser.request("GET", "/");
      assert.deepEqual(shown.body.errors, ["Wrong user name or password."]);
      assert.deepEqual((await browser.request("GET", "/")).body.errors, [], "shown once");
    });

    test("renewal: a Passport session's due token is replaced before the handler runs, req.user kept; the old one dies after the grace", async () => {
      let ahead = 0;
      const store = createRedisStore({ url: redis.url });
      defer(() => store.close());
      const renewing = createSessionManager({
        store,
        renewAfterSeconds: 2,
        renewGraceSeconds: 1,
        clock: () => Date.now() + ahead,
      });
      const app = await listen(passportApp(renewing, gates));
      defer(app.close);
      const browser = new Browser(app.url);
      await browser.login("ada");
      const old = browser.token as string;
      assert.deepEqual((await browser.request("GET", "/")).setCookies, [], "a young token is kept");
      ahead = 2500;
      const page = await browser.request("GET", "/");
      assert.equal(page.body.user, "ada");
      assert.ok(browser.token && browser.token !== old, "a new cookie");
      assert.equal(
        page.body.sessionID,
        renewing.publicIdOf(browser.token),
        "req.sessionID is the new session's",
      );
      assert.equal((await browser.request("GET", "/")).body.user, "ada");
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal(await renewing.load(old), null, "the old token is dead after the grace");
      assert.equal((await renewing.load(browser.token))?.userId, "u-ada");
      assert.equal(await renewing.destroy(browser.token), true, "ada's index is left as it was");
    });

    test("Passport login: a fresh token in ada's index, req.user restored later, data kept between requests", async () => {
      const browser = new Browser(base);
      await browser.request("POST", "/set?cart=%5B%22apple%22%5D"); // before login: an anonymous session
      const anonymousToken = browser.token;
      assert.ok(anonymousToken);

      const login = await browser.login("ada");
      assert.equal(login.status, 302);
      assert.equal(login.location, "/");
      assert.ok(browser.token && browser.token !== anonymousToken, "regenerate gave a new token");
      assert.equal(await elsewhere.load(anonymousToken), null, "the pre-login token is dead (fixation)");

      const stored = await elsewhere.load(browser.token);
      assert.equal(stored?.userId, "u-ada");
      assert.deepEqual(stored?.data, { passport: JSON.stringify({ user: "u-ada" }) });
      const listed = await elsewhere.listForUser("u-ada");
      assert.deepEqual(
        listed.map((session) => session.id),
        [elsewhere.publicIdOf(browser.token)],
      );

      const page = await browser.request("GET", "/");
      assert.equal(page.body.user, "ada");
      assert.equal(
        page.body.sessionID,
        elsewhere.publicIdOf(browser.token),
        "req.sessionID is the public id",
      );
      await browser.request("POST", `/set?theme=${encodeURIComponent('"dark"')}&visits=3`);
      assert.deepEqual((await browser.request("GET", "/data")).body, {
        passport: { user: "u-ada" },
        flash: {},
        theme: "dark",
        visits: 3,
      });
      assert.equal((await browser.request("GET", "/")).body.user, "ada");
    });

    test("a new session after the headers were sent: the response is cut (its cookie could not go), nothing stored", async () => {
      const browser = new Browser(base);
      const keysBefore = await raw.dbSize();
      await assert.rejects(browser.request("GET", "/stream"));
      assert.equal(browser.token, undefined);
      assert.equal(await raw.dbSize(), keysBefore, "no session without a cookie to reach it");
    });

    test("concurrent requests changing different properties both land", async () => {
      const browser = new Browser(base);
      await browser.login("grace");
      await browser.request("POST", "/set?a=0&b=0");
      const first = browser.request("POST", "/set?a=1&gate=a");
      const second = browser.request("POST", "/set?b=2&gate=b");
      await Promise.all([gates.arrived("a"), gates.arrived("b")]);
      gates.open("a");
      assert.equal((await first).status, 200);
      gates.open("b");
      assert.equal((await second).status, 200);
      const data = (await browser.request("GET", "/data")).body;
      assert.equal(data.a, 1, "the first request's change");
      assert.equal(data.b, 2, "the second request's change, which loaded a=0 and did not write it back");

      await browser.request("POST", "/set?drop=a");
      const stored = await elsewhere.load(browser.token);
      assert.equal(stored?.data.a, undefined, "a deleted property is removed from the store");
      assert.equal(stored?.data.b, "2");
    });

    test("Passport logout ends the session server-side and clears the cookie", async () => {
      const browser = new Browser(base);
      await browser.login("alan");
      const token = browser.token;
      assert.equal((await elsewhere.listForUser("u-alan")).length, 1);
      const logout = await browser.request("POST", "/logout");
      assert.equal(logout.status, 302);
      assert.equal(await elsewhere.load(token), null, "the session is gone from Redis");
      assert.equal((await elsewhere.listForUser("u-alan")).length, 0);
      assert.equal(browser.token, undefined, "the cookie is cleared, and no new session was started");
      // The old token, replayed, is nobody.
      const replay = new Browser(base);
      replay.cookies.set("lk", token as string);
      assert.equal((await replay.request("GET", "/")).body.user, null);
    });

    test("regenerate gives a new token, the old one is dead, and the data set after it is kept", async () => {
      const browser = new Browser(base);
      await browser.login("edsger");
      const old = browser.token as string;
      const answer = await browser.request("POST", "/regenerate");
      assert.notEqual(browser.token, old);
      assert.equal(answer.body.before, elsewhere.publicIdOf(old));
      assert.equal(answer.body.after, elsewhere.publicIdOf(browser.token));
      assert.equal(await elsewhere.load(old), null, "the old token names no session");
      const fresh = await elsewhere.load(browser.token);
      assert.deepEqual(fresh?.data, { afterRegenerate: "true" });
      assert.equal(fresh?.userId, null, "regenerate drops the user, as express-session's does");
    });

    test("destroyForUser from another process ends it; a request in flight meanwhile brings nothing back", async () => {
      const browser = new Browser(base);
      await browser.login("barbara");
      const token = browser.token as string;
      const inFlight = browser.request("POST", "/set?late=1&gate=revoke");
      await gates.arrived("revoke");
      assert.equal(await elsewhere.destroyForUser("u-barbara"), 1);
      gates.open("revoke");
      const late = await inFlight;
      assert.equal(late.status, 200);
      assert.equal(await elsewhere.load(token), null, "not resurrected by the late write");
      assert.equal((await elsewhere.listForUser("u-barbara")).length, 0);
      assert.equal(browser.token, undefined, "its cookie is cleared");
      assert.equal((await browser.request("GET", "/")).body.user, null);
    });

    test("destroyById, listForUser and destroy() on the request", async () => {
      const phone = new Browser(base);
      const laptop = new Browser(base);
      await phone.login("ken");
      await laptop.login("ken");
      const listed = await elsewhere.listForUser("u-ken");
      assert.equal(listed.length, 2);
      assert.equal(await elsewhere.destroyById("u-ken", elsewhere.publicIdOf(phone.token) as string), true);
      assert.equal((await phone.request("GET", "/")).body.user, null);
      assert.equal((await laptop.request("GET", "/")).body.user, "ken");
      const destroyed = await laptop.request("POST", "/destroy");
      assert.deepEqual(destroyed.body, { session: null }, "req.session is gone, as with express-session");
      assert.equal(laptop.token, undefined);
      assert.equal((await elsewhere.listForUser("u-ken")).length, 0);
    });

    test("reload reads what another request wrote; reload of an ended session is an error", async () => {
      const browser = new Browser(base);
      await browser.login("ada");
      const reading = browser.request("GET", "/reload?gate=reload");
      await gates.arrived("reload");
      assert.equal(
        await elsewhere.set(browser.token as string, { note: JSON.stringify("from elsewhere") }),
        true,
      );
      gates.open("reload");
      const reloaded = await reading;
      assert.equal(reloaded.body.note, "from elsewhere");
      assert.equal(reloaded.body.same, false, "a new req.session object, as express-session's reload");

      const ending = browser.request("GET", "/reload?gate=reload-gone");
      await gates.arrived("reload-gone");
      await elsewhere.destroy(browser.token as string);
      gates.open("reload-gone");
      assert.equal((await ending).status, 500);
    });

    test("req.session.cookie describes the cookie sent; only data is enumerable", async () => {
      const browser = new Browser(base);
      await browser.login("grace");
      const { body } = await browser.request("GET", "/cookie");
      assert.equal(body.httpOnly, true);
      assert.equal(body.path, "/");
      assert.equal(body.sameSite, "lax");
      assert.equal(body.secure, false);
      const stored = await elsewhere.load(browser.token);
      assert.equal(body.expires, stored?.expiresAt.toISOString());
      assert.ok(
        typeof body.maxAge === "number" &&
          body.maxAge > 6 * 24 * 3600 * 1000 &&
          body.maxAge <= 7 * 24 * 3600 * 1000,
      );
      assert.deepEqual(body.keys, ["passport"]);
    });

    for (const [bad, expected] of [
      ["bigint", /req\.session\.amount cannot be stored: .*BigInt/],
      ["cycle", /req\.session\.graph cannot be stored: .*circular/i],
      ["big", /the session would hold \d+ bytes of fields/],
    ] as const) {
      test(`a session with ${bad === "big" ? "more than maxSessionBytes" : `a ${bad}`}: a 500 through Express's error handler, nothing written`, async () => {
        const browser = new Browser(base);
        await browser.login("edsger");
        const before = await elsewhere.load(browser.token);
        const answer = await browser.request("POST", `/bad?kind=${bad}`);
        assert.equal(answer.status, 500);
        assert.equal(answer.location, null, "the handler's redirect is not sent");
        assert.equal(answer.body.error, "Internal Server Error");
        assert.match(String(answer.body.cause), expected);
        if (bad === "big")
          assert.match(String(answer.body.cause), /over its limit of 32768: nothing was written/);
        const after = await elsewhere.load(browser.token);
        assert.deepEqual(after?.data, before?.data, "not even the property that could be stored");
      });
    }
  });
}

describe("expressSession when Redis dies mid-request", () => {
  const { defer } = suiteResources();
  for (const kind of CLIENTS) {
    test(`${kind.name}: 503 through Express's error handler, in bounded time`, async () => {
      const redis: RedisServerHandle = await startRedisServer();
      defer(() => redis.stop());
      const client = await kind.connect(redis.url, defer);
      const sessions = createSessionManager({
        store: createRedisStore({ client: client as never, commandTimeoutMs: 500 }),
      });
      const gates = new Gates();
      const app = await listen(passportApp(sessions, gates));
      defer(app.close);
      const browser = new Browser(app.url);
      await browser.login("ada");
      const inFlight = browser.request("POST", "/set?late=1&gate=outage");
      await gates.arrived("outage");
      await redis.stop();
      const started = Date.now();
      gates.open("outage");
      const answer = await inFlight;
      assert.equal(answer.status, 503);
      assert.match(String(answer.body.error), /temporarily unavailable/);
      assert.ok(Date.now() - started < 3000, `answered in ${Date.now() - started} ms`);
      const next = await browser.request("GET", "/");
      assert.equal(next.status, 503, "a request that must load its session: 503 too");
      const login = await new Browser(app.url).login("grace");
      assert.equal(login.status, 503, "a login whose save fails: Passport passes the 503 on");
      assert.equal(login.location, null);
    });
  }
});

describe("expressSession with its own userOf (no Passport)", () => {
  const { started, defer } = suiteResources();
  test("setting the user promotes the session to a fresh token in the user's index, keeping the cart; removing it ends that session", async () => {
    const redis = await started();
    const store = createRedisStore({ url: redis.url });
    defer(() => store.close());
    const sessions = createSessionManager({ store });
    const app = express();
    app.use(
      expressSession({
        sessions: sessions as never,
        userOf: (session) => (typeof session.account === "string" ? session.account : undefined),
      }) as Handler,
    );
    app.post("/cart", (req, res) => {
      sessionOf(req).cart = ["pear"];
      res.end();
    });
    app.post("/sign-in", (req, res) => {
      sessionOf(req).account = "acct-7";
      sessionOf(req).greeting = "hello";
      res.end();
    });
    app.post("/sign-out", (req, res) => {
      delete sessionOf(req).account;
      res.end();
    });
    app.get("/data", (req, res) => {
      res.json({ ...sessionOf(req) });
    });
    const server = await listen(createServer(app));
    defer(server.close);
    const browser = new Browser(server.url);

    await browser.request("POST", "/cart");
    const anonymous = browser.token as string;
    assert.equal((await sessions.load(anonymous))?.userId, null);
    await browser.request("POST", "/sign-in");
    const signedIn = browser.token as string;
    assert.notEqual(signedIn, anonymous, "a fresh token at sign-in");
    assert.equal(await sessions.load(anonymous), null, "the anonymous token is dead");
    const listed = await sessions.listForUser("acct-7");
    assert.deepEqual(
      listed.map((session) => [session.id, session.data]),
      [[sessions.publicIdOf(signedIn), { cart: '["pear"]', account: '"acct-7"', greeting: '"hello"' }]],
    );

    await browser.request("POST", "/sign-out");
    assert.equal(await sessions.load(signedIn), null, "the user's session ended");
    assert.equal((await sessions.listForUser("acct-7")).length, 0);
    const after = await sessions.load(browser.token);
    assert.equal(after?.userId, null, "what was left is in a new anonymous session");
    assert.deepEqual((await browser.request("GET", "/data")).body, { cart: ["pear"], greeting: "hello" });
  });
});

describe("expressSession behind a proxy", () => {
  const { started, defer } = suiteResources();
  test("Express's trust proxy decides, as for latchkey(): HTTPS by X-Forwarded-Proto gets the __Host- cookie, the IP is the client's", async () => {
    const redis = await started();
    const store = createRedisStore({ url: redis.url });
    defer(() => store.close());
    const sessions = createSessionManager({ store });
    const app = express();
    app.set("trust proxy", 1);
    app.use(expressSession({ sessions: sessions as never }) as Handler);
    app.post("/", (req, res) => {
      sessionOf(req).seen = true;
      res.end();
    });
    const server = await listen(createServer(app));
    defer(server.close);
    const response = await fetch(`${server.url}/`, {
      method: "POST",
      headers: { "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9" },
    });
    const [cookie = ""] = response.headers.getSetCookie();
    assert.match(
      cookie,
      /^__Host-lk=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
    const token = cookie.slice("__Host-lk=".length, cookie.indexOf(";"));
    assert.equal((await sessions.load(token))?.ip, "203.0.113.9");
  });
});

describe("expressSession on Express 4", () => {
  const { started, defer } = suiteResources();
  test("Passport login, req.user restored, logout ends it", async () => {
    const redis = await started();
    const store = createRedisStore({ url: redis.url });
    defer(() => store.close());
    const sessions = createSessionManager({ store });
    const app = await listen(passportApp(sessions, new Gates(), express4));
    defer(app.close);
    const browser = new Browser(app.url);
    assert.equal((await browser.login("ada")).location, "/");
    assert.equal((await browser.request("GET", "/")).body.user, "ada");
    assert.equal((await sessions.listForUser("u-ada")).length, 1);
    await browser.request("POST", "/logout");
    assert.equal((await sessions.listForUser("u-ada")).length, 0);
    assert.equal((await browser.request("GET", "/")).body.user, null);
  });
});

describe("expressSession takes over from express-session + connect-redis with no one signed out", () => {
  const { started, defer } = suiteResources();
  const OLD_SECRET = "the old express-session secret";
  // express-session and connect-redis without their type declarations, which claim `req.session`.
  const oldSession = require("express-session") as (options: Record<string, unknown>) => Handler;
  const { RedisStore } = require("connect-redis") as {
    RedisStore: new (options: { client: unknown }) => ExpressSessionStoreLike;
  };

  test("a Passport login made under express-session is still logged in under expressSession", async () => {
    const redis = await started();
    const client = await createClient({ url: redis.url })
      .on("error", () => {})
      .connect();
    defer(async () => void (await client.close()));
    const store = createRedisStore({ client });
    const sessions = createSessionManager({ store });

    // Before the switch: the same Passport app on express-session + connect-redis.
    const authenticator = new passport.Passport();
    authenticator.use(
      new LocalStrategy((username, password, done) =>
        done(null, USERS[username]?.password === password ? { id: USERS[username]?.id, username } : false),
      ),
    );
    authenticator.serializeUser((user, done) => done(null, (user as { id: string }).id));
    authenticator.deserializeUser((id: string, done) => done(null, { id, username: nameOf(id) }));
    const oldApp = express();
    oldApp.use(express.urlencoded({ extended: false }));
    oldApp.use(
      oldSession({
        store: new RedisStore({ client }),
        secret: OLD_SECRET,
        resave: false,
        saveUninitialized: false,
      }),
    );
    oldApp.use(authenticator.session());
    oldApp.post("/login", authenticator.authenticate("local", { successRedirect: "/" }));
    oldApp.post("/cart", (req, res) => {
      (req as unknown as { session: Record<string, unknown> }).session.cart = ["pear"];
      res.end();
    });
    const before_ = await listen(createServer(oldApp));
    defer(before_.close);
    const browser = new Browser(before_.url);
    assert.equal((await browser.login("grace")).location, "/");
    await browser.request("POST", "/cart");
    assert.ok(browser.cookies.get("connect.sid"));

    // After: expressSession with the migration step.
    const newApp = express();
    newApp.use(
      expressSession({
        sessions: sessions as never,
        migrateExpressSession: { store: new RedisStore({ client }), secret: OLD_SECRET },
      }) as Handler,
    );
    const inner = new passport.Passport();
    inner.deserializeUser((id: string, done) => done(null, { id, username: nameOf(id) }));
    newApp.use(inner.session());
    newApp.get("/", (req, res) =>
      res.json({
        user: (req.user as { username?: string } | undefined)?.username ?? null,
        cart: sessionOf(req).cart,
      }),
    );
    const after_ = await listen(createServer(newApp));
    defer(after_.close);
    const switched = new Browser(after_.url);
    for (const [name, value] of browser.cookies) switched.cookies.set(name, value);

    const first = await switched.request("GET", "/");
    assert.deepEqual(first.body, { user: "grace", cart: ["pear"] });
    assert.equal(switched.cookies.get("connect.sid"), undefined, "the old cookie is cleared");
    assert.ok(switched.token);
    const listed = await sessions.listForUser("u-grace");
    assert.deepEqual(
      listed.map((session) => session.id),
      [sessions.publicIdOf(switched.token)],
    );
    const second = await switched.request("GET", "/");
    assert.deepEqual(
      second.body,
      { user: "grace", cart: ["pear"] },
      "and on the next request, by the new cookie",
    );
  });
});
