/**
 * The app's routes and flows, in process (fastify.inject), against each backend: the memory store, a
 * standalone Redis and a Redis Cluster (real servers started by the test harness on free ports).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { startRedisCluster, startRedisServer } from "../test/harness/redis-servers.js";
import { buildApp } from "./app.js";
import { type Config, DEFAULT_CONFIG, type StoreConfig } from "./config.js";
import { createTestClient, type TestClient, uniqueName, visitsOf } from "./test-client.js";

/**
 * The sign-up throttle and the per-client login limit count per IP; these tests sign up dozens of users
 * and log in a few dozen times from 127.0.0.1.
 */
const MANY_SIGNUPS = { maxSignupsPerIP: 10_000, maxPerIP: 10_000 };

interface Backend {
  name: string;
  start(): Promise<{ store: StoreConfig; stop(): Promise<void> }>;
}

const memory: Backend[] = [
  { name: "memory store", start: async () => ({ store: { kind: "memory" }, stop: async () => {} }) },
];
/**
 * Each backend; on another server (LATCHKEY_TEST_SERVER, e.g. valkey-server in `npm run test:valkey`)
 * only the Redis ones, as the memory store's run would repeat the default run's.
 */
const backends: Backend[] = [
  ...(process.env.LATCHKEY_TEST_SERVER ? [] : memory),
  {
    name: "standalone Redis",
    start: async () => {
      const server = await startRedisServer();
      return { store: { kind: "redis", url: server.url }, stop: server.stop };
    },
  },
  {
    name: "Redis Cluster",
    start: async () => {
      const cluster = await startRedisCluster();
      return { store: { kind: "redis-cluster", nodes: cluster.urls }, stop: cluster.stop };
    },
  },
];

const PASSWORD = "correct horse battery";
const HEALTH_TOKEN = "health-details-token-for-tests";

async function signUp(client: TestClient, username = uniqueName()): Promise<string> {
  const page = await client.post("/signup", { username, password: PASSWORD });
  assert.equal(page.status, 303, page.body);
  assert.equal(page.headers.location, "/");
  return username;
}

for (const backend of backends) {
  describe(`app over the ${backend.name}`, () => {
    let stopBackend: () => Promise<void>;
    let config: Config;
    let app: FastifyInstance;
    const client = (headers?: Record<string, string>) => createTestClient(app, headers);

    before(async () => {
      const started = await backend.start();
      stopBackend = started.stop;
      config = {
        ...DEFAULT_CONFIG,
        store: started.store,
        logLevel: "silent",
        healthDetailsToken: HEALTH_TOKEN,
      };
      // Every test signs up its own users, all from the one address inject() uses.
      app = await buildApp(config, { throttle: MANY_SIGNUPS });
      await app.ready();
    });
    after(async () => {
      await app?.close();
      await stopBackend?.();
    });

    test("GET / when anonymous: not logged in, links to log in and sign up", async () => {
      const page = await client().get("/");
      assert.equal(page.status, 200);
      assert.match(page.body, /You are not logged in/);
      assert.match(page.body, /href="\/login"/);
      assert.match(page.body, /href="\/signup"/);
      assert.equal(page.headers["cache-control"], "no-store");
      assert.deepEqual(page.setCookies, []);
    });

    test("sign up logs in; each view of / counts one visit; logout button on the page", async () => {
      const browser = client();
      const username = await signUp(browser, uniqueName("Ada"));
      for (const expected of [1, 2, 3]) {
        const page = await browser.get("/");
        assert.match(page.body, new RegExp(`Logged in as <strong>${username}</strong>\\.`));
        assert.equal(visitsOf(page), expected);
        assert.match(page.body, /<form method="post" action="\/logout">/);
      }
    });

    test("GET /signup and /login show the forms with labels and the username rule", async () => {
      const signup = await client().get("/signup");
      assert.equal(signup.status, 200);
      assert.match(signup.body, /<label for="username">/);
      assert.match(signup.body, /<label for="password">/);
      assert.match(signup.body, /3–32 characters: letters, digits, dot, underscore or hyphen/);
      const login = await client().get("/login");
      assert.equal(login.status, 200);
      assert.match(login.body, /action="\/login"/);
    });

    test("sign-up refuses bad usernames, short passwords and taken names (case-insensitive)", async () => {
      const browser = client();
      const bad = await browser.post("/signup", { username: "a b", password: PASSWORD });
      assert.equal(bad.status, 400);
      assert.match(bad.body, /role="alert"/);
      const short = await browser.post("/signup", { username: uniqueName(), password: "short" });
      assert.equal(short.status, 400);
      assert.match(short.body, /at least 8 characters/);
      const username = await signUp(client(), uniqueName("Grace"));
      const taken = await browser.post("/signup", { username: username.toUpperCase(), password: PASSWORD });
      assert.equal(taken.status, 409);
      assert.match(taken.body, /taken/);
      assert.equal(browser.cookie, undefined);
    });

    test("login: wrong password and unknown user get the same 401; success is a fresh token", async () => {
      const username = await signUp(client());
      const browser = client();
      const wrong = await browser.post("/login", { username, password: "wrong password" });
      const unknown = await browser.post("/login", { username: uniqueName(), password: PASSWORD });
      for (const page of [wrong, unknown]) {
        assert.equal(page.status, 401);
        assert.match(page.body, /Wrong username or password\./);
        assert.match(page.body, /<form class="stack" method="post" action="\/login">/);
      }
      const ok = await browser.post("/login", { username: username.toUpperCase(), password: PASSWORD });
      assert.equal(ok.status, 303);
      assert.equal(ok.headers.location, "/");
      const first = browser.cookie;
      const again = await browser.post("/login", { username, password: PASSWORD });
      assert.equal(again.status, 303);
      assert.notEqual(browser.cookie, first, "a second login issues a new token");
      const stale = client();
      stale.setCookie(first);
      assert.match((await stale.get("/")).body, /You are not logged in/, "the replaced token is dead");
      assert.match((await browser.get("/")).body, /Logged in as/);
    });

    test("GET /login when logged in goes home", async () => {
      const browser = client();
      await signUp(browser);
      const page = await browser.get("/login");
      assert.equal(page.status, 303);
      assert.equal(page.headers.location, "/");
    });

    test("POST /logout ends the session server-side; the browser gets an anonymous one with the notice, once", async () => {
      const browser = client();
      await signUp(browser);
      const token = browser.cookie;
      const page = await browser.post("/logout");
      assert.equal(page.status, 303);
      assert.equal(page.setCookies.length, 1, "one Set-Cookie: the fresh anonymous session's");
      assert.ok(browser.cookie && browser.cookie !== token, "a new token, not the signed-in one");
      const landing = await browser.get("/");
      assert.match(landing.body, /<p class="notice" role="status">You have logged out\.<\/p>/);
      assert.match(landing.body, /You are not logged in/);
      assert.doesNotMatch((await browser.get("/")).body, /You have logged out/, "shown once");
      const replay = client();
      replay.setCookie(token);
      const replayed = await replay.get("/");
      assert.match(replayed.body, /You are not logged in/, "the old token is dead");
      assert.match(replayed.body, /Your session has ended/);
    });

    test("a theme chosen before login survives it: it is a cookie of the browser's, not a session", async () => {
      const browser = client();
      const visit = await browser.get("/");
      assert.deepEqual(visit.setCookies, [], "a page view starts no session");
      assert.match(visit.body, /<html lang="en">/);
      const chosen = await browser.post("/theme", { theme: "dark", back: "/login" });
      assert.equal(chosen.status, 303);
      assert.equal(chosen.headers.location, "/login");
      assert.equal(browser.cookie, "theme=dark", "the choice started no session");
      const loginPage = await browser.get("/login");
      assert.equal(loginPage.status, 200, "an anonymous visitor still sees the login form");
      assert.match(loginPage.body, /<html lang="en" data-theme="dark">/);
      assert.match(loginPage.body, /value="dark" class="secondary" aria-pressed="true"/);

      const username = await signUp(browser);
      const home = await browser.get("/");
      assert.match(home.body, /<html lang="en" data-theme="dark">/, "the theme carried over");
      assert.match(home.body, new RegExp(`Welcome, ${username}: your account is ready\\.`));
      assert.doesNotMatch((await browser.get("/")).body, /your account is ready/, "the welcome shows once");
    });

    test("keep me signed in: ticked, a persistent cookie and SESSION_REMEMBER_TIMEOUT; unticked, a browser-session cookie", async () => {
      const username = uniqueName();
      const signup = await client().post("/signup", { username, password: PASSWORD });
      assert.equal(signup.status, 303);
      assert.doesNotMatch(signup.setCookies.join("\n"), /Max-Age/, "sign-up: a browser-session cookie");
      const forgetful = client();
      const plain = await forgetful.post("/login", { username, password: PASSWORD });
      assert.equal(plain.status, 303);
      assert.match(plain.setCookies[0] ?? "", /^lk=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/, "no Max-Age");
      const keeper = client();
      const kept = await keeper.post("/login", { username, password: PASSWORD, remember: "1" });
      assert.equal(kept.status, 303);
      const maxAge = Number(/Max-Age=(\d+)/.exec(kept.setCookies[0] ?? "")?.[1]);
      assert.ok(Math.abs(maxAge - 2592000) <= 2, `30 days by default, got Max-Age=${maxAge}`);
      const page = await keeper.get("/sessions");
      assert.equal(page.body.match(/Kept signed in/g)?.length, 1, "one of the three sessions is kept");
      assert.equal(page.body.match(/when the browser closes/g)?.length, 2, "the others end with the browser");
    });

    test("POST /theme refuses a redirect elsewhere and an unknown theme", async () => {
      const browser = client();
      for (const back of ["//evil.example/", "/\\evil.example", "https://evil.example/", "/ok\u00e9"]) {
        const page = await browser.post("/theme", { theme: "light", back });
        assert.equal(page.headers.location, "/", back);
      }
      await browser.post("/theme", { theme: "<script>", back: "/" });
      assert.match((await browser.get("/")).body, /<html lang="en">/, "an unknown theme is auto");
    });

    test("GET /logout: only a typed URL logs out; links, prefetches, HEAD and header-less GETs ask first", async () => {
      const typed: Record<string, string>[] = [
        { "sec-fetch-site": "none" },
        { "sec-fetch-site": "none", "sec-fetch-mode": "navigate" },
      ];
      for (const headers of typed) {
        const browser = client();
        await signUp(browser);
        const page = await browser.get("/logout", headers);
        assert.equal(page.status, 303, JSON.stringify(headers));
        assert.match((await browser.get("/")).body, /You are not logged in/);
      }
      const browser = client();
      await signUp(browser);
      const asks: Record<string, string>[] = [
        {},
        { "sec-fetch-site": "cross-site" },
        { "sec-fetch-site": "same-site" },
        { "sec-fetch-site": "same-origin" },
        { "sec-fetch-site": "none", "sec-purpose": "prefetch" },
        { "sec-fetch-site": "none", purpose: "prefetch" },
        { "sec-fetch-site": "none", "sec-fetch-mode": "no-cors" },
      ];
      for (const headers of asks) {
        const page = await browser.get("/logout", headers);
        assert.equal(page.status, 200, JSON.stringify(headers));
        assert.match(page.body, /Log out\?/);
        assert.match(page.body, /<form method="post" action="\/logout"/);
        assert.deepEqual(page.setCookies, []);
        assert.match((await browser.get("/")).body, /Logged in as/, "still logged in");
      }
      const head = await app.inject({
        method: "HEAD",
        url: "/logout",
        headers: { cookie: browser.cookie ?? "", "sec-fetch-site": "none" },
      });
      assert.equal(head.statusCode, 200);
      assert.match((await browser.get("/")).body, /Logged in as/, "HEAD changes nothing");
    });

    test("cross-site state changes are refused with 403; requests without browser headers pass", async () => {
      const username = await signUp(client());
      const form = { username, password: PASSWORD };
      const crossSite = await client().post("/login", form, { "sec-fetch-site": "cross-site" });
      assert.equal(crossSite.status, 403);
      assert.match(crossSite.body, /Request refused/);
      assert.deepEqual(crossSite.setCookies, []);
      const foreignOrigin = await client().post("/login", form, { origin: "https://evil.example" });
      assert.equal(foreignOrigin.status, 403);
      const sameOrigin = await client().post("/login", form, { origin: "http://localhost:80" });
      assert.equal(sameOrigin.status, 303, "inject sends Host: localhost:80");
      const noHeaders = await client().post("/login", form);
      assert.equal(noHeaders.status, 303);
      const browser = client();
      await signUp(browser);
      const logout = await browser.post("/logout", {}, { "sec-fetch-site": "cross-site" });
      assert.equal(logout.status, 403);
      assert.match((await browser.get("/")).body, /Logged in as/);
    });

    test("GET /sessions lists the user's sessions, marks this one, ends one and all others", async () => {
      const username = await signUp(
        client({ "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0" }),
      );
      const phone = client({
        "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Version/18.0 Safari/605.1",
      });
      const laptop = client({
        "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/141.0 Safari/537.36",
      });
      for (const browser of [phone, laptop]) await browser.post("/login", { username, password: PASSWORD });
      const page = await laptop.get("/sessions");
      assert.equal(page.status, 200);
      assert.equal(page.body.match(/<li class="session/g)?.length, 3);
      assert.equal(page.body.match(/This device/g)?.length, 1);
      assert.match(page.body, /Chrome on Windows <span class="badge">This device<\/span>/);
      assert.match(page.body, /Safari on iPhone/);
      assert.match(page.body, /Firefox on Linux/);
      assert.match(page.body, /<dt>IP address<\/dt><dd>127\.0\.0\.1<\/dd>/);
      const ids = [...page.body.matchAll(/action="\/sessions\/([A-Za-z0-9_-]{16})\/end"/g)].map((m) => m[1]);
      const currentId = /<li class="session current">[\s\S]*?action="\/sessions\/([^/]+)\/end"/.exec(
        page.body,
      )?.[1];
      const phoneId = /Safari on iPhone[\s\S]*?action="\/sessions\/([^/]+)\/end"/.exec(page.body)?.[1];
      assert.equal(ids.length, 3);
      assert.ok(currentId && phoneId && phoneId !== currentId);

      const end = await laptop.post(`/sessions/${phoneId}/end`);
      assert.equal(end.status, 303);
      assert.equal(end.headers.location, "/sessions");
      assert.match((await phone.get("/")).body, /You are not logged in/);
      const afterEnd = await laptop.get("/sessions");
      assert.match(afterEnd.body, /That session has ended\./);
      assert.equal(afterEnd.body.match(/<li class="session/g)?.length, 2);

      // Another user's session id ends nothing.
      const stranger = client();
      await signUp(stranger);
      await stranger.post(`/sessions/${currentId}/end`);
      assert.match((await laptop.get("/")).body, /Logged in as/);

      const others = await laptop.post("/sessions/end-others");
      assert.equal(others.status, 303);
      const only = await laptop.get("/sessions");
      assert.match(only.body, /<p class="notice" role="status">1 other session ended\.<\/p>/);
      assert.equal(only.body.match(/<li class="session/g)?.length, 1);
      assert.match(only.body, /No other sessions/);

      const self = await laptop.post(`/sessions/${currentId}/end`);
      assert.equal(self.headers.location, "/");
      const landing = await laptop.get("/");
      assert.match(landing.body, /You are not logged in/, "ending this session logs this device out");
      assert.match(landing.body, /You have logged out\./);
    });

    test("GET /sessions when anonymous redirects to the login page", async () => {
      const page = await client().get("/sessions");
      assert.equal(page.status, 303);
      assert.equal(page.headers.location, "/login");
    });

    test("GET /healthz: the status alone in public, the store's details with the credential", async () => {
      const anonymous = await client().get("/healthz");
      assert.equal(anonymous.status, 200);
      assert.deepEqual(JSON.parse(anonymous.body), { status: "ok" });
      for (const authorization of [
        "Bearer wrong-token-of-some-length",
        `Basic ${HEALTH_TOKEN}`,
        HEALTH_TOKEN,
      ]) {
        assert.deepEqual(JSON.parse((await client({ authorization }).get("/healthz")).body), {
          status: "ok",
        });
      }
      const page = await client({ authorization: `Bearer ${HEALTH_TOKEN}` }).get("/healthz");
      assert.equal(page.status, 200);
      const body = JSON.parse(page.body);
      assert.equal(body.status, "ok");
      assert.equal(body.store.kind, config.store.kind);
      assert.deepEqual(body.store.problems, []);
    });

    test("unknown routes get the 404 page; the stylesheet is served and cached", async () => {
      const missing = await client().get("/no/such/page");
      assert.equal(missing.status, 404);
      assert.match(missing.body, /Page not found/);
      assert.match(String(missing.headers["content-type"]), /^text\/html/);
      const href = /<link rel="stylesheet" href="([^"]+)">/.exec(missing.body)?.[1];
      assert.ok(href);
      const css = await client().get(href);
      assert.equal(css.status, 200);
      assert.match(String(css.headers["content-type"]), /^text\/css/);
      assert.match(String(css.headers["cache-control"]), /max-age=31536000, immutable/);
    });

    test("security headers on every page", async () => {
      for (const url of ["/", "/login", "/missing"]) {
        const page = await client().get(url);
        assert.match(String(page.headers["content-security-policy"]), /default-src 'self'/);
        assert.match(String(page.headers["content-security-policy"]), /frame-ancestors 'none'/);
        assert.equal(page.headers["x-content-type-options"], "nosniff");
        assert.equal(page.headers["referrer-policy"], "same-origin");
        assert.equal(page.headers["x-frame-options"], "DENY");
        assert.doesNotMatch(page.body, /<script/i);
      }
    });

    test("200 concurrent views count exactly 200", async () => {
      const browser = client();
      await signUp(browser);
      const pages = await Promise.all(Array.from({ length: 200 }, () => browser.get("/")));
      const counts = pages.map(visitsOf).sort((a, b) => (a ?? 0) - (b ?? 0));
      assert.deepEqual(
        counts,
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      assert.equal(visitsOf(await browser.get("/")), 201);
    });

    test("idle expiry: a session ends after SESSION_IDLE_TIMEOUT without views, activity extends it", async () => {
      const short = await buildApp(
        { ...config, idleTimeoutSeconds: 1, absoluteTimeoutSeconds: 60 },
        { throttle: MANY_SIGNUPS },
      );
      try {
        const browser = createTestClient(short);
        const page = await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
        assert.equal(page.status, 303);
        for (let i = 0; i < 3; i++) {
          await sleep(600);
          assert.match((await browser.get("/")).body, /Logged in as/, `view ${i} within the idle timeout`);
        }
        await sleep(1300);
        const expired = await browser.get("/");
        assert.match(expired.body, /You are not logged in/);
        assert.match(expired.setCookies[0] ?? "", /^lk=; Max-Age=0/, "the stale cookie is cleared");
      } finally {
        await short.close();
      }
    });

    test("login throttling: 5 attempts per account and client, then 429 with Retry-After; success clears", async () => {
      const username = await signUp(client());
      const browser = client();
      for (let i = 0; i < 4; i++) {
        assert.equal((await browser.post("/login", { username, password: "nope nope" })).status, 401);
      }
      assert.equal((await browser.post("/login", { username, password: PASSWORD })).status, 303);
      for (let i = 0; i < 5; i++) {
        assert.equal((await browser.post("/login", { username, password: "nope nope" })).status, 401);
      }
      const blocked = await browser.post("/login", { username, password: PASSWORD });
      assert.equal(blocked.status, 429);
      assert.equal(blocked.headers["retry-after"], "900");
      assert.match(blocked.body, /Too many attempts/);
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
