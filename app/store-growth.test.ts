/**
 * What a visitor can make the store hold (the third red-team round): a theme choice writes nothing, a
 * logout without a session starts none, the anonymous sessions the app does start are bounded, and on
 * a full Redis the actions that end sessions answer with their notice instead of a 503 page. Real
 * Redis (noeviction, as docs/operations.md asks), in process.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { type RedisServerHandle, startRedisServer } from "../test/harness/redis-servers.js";
import { respCommand, respTargetOf } from "../test/harness/resp-client.js";
import { createAnonymousLimit } from "./anonymous-limit.js";
import { buildApp } from "./app.js";
import { DEFAULT_CONFIG } from "./config.js";
import { createTestClient, type TestClient, uniqueName } from "./test-client.js";

const PASSWORD = "correct horse battery";

describe("store growth and a full Redis", () => {
  let redis: RedisServerHandle;
  let app: FastifyInstance;
  const raw = (...command: string[]) => respCommand(respTargetOf(redis.url), ...command);
  const sessionKeys = async () => ((await raw("KEYS", "lk:s:*")) as string[]).length;
  const signUp = async (browser: TestClient, username = uniqueName()) => {
    const page = await browser.post("/signup", { username, password: PASSWORD });
    assert.equal(page.status, 303, page.body);
    return username;
  };
  const logIn = async (browser: TestClient, username: string) => {
    const page = await browser.post("/login", { username, password: PASSWORD });
    assert.equal(page.status, 303, page.body);
  };

  before(async () => {
    redis = await startRedisServer({ args: ["--maxmemory-policy", "noeviction"] });
    app = await buildApp(
      { ...DEFAULT_CONFIG, logLevel: "silent", store: { kind: "redis", url: redis.url } },
      { throttle: { maxSignupsPerIP: 1000, maxPerIP: 1000 } },
    );
  });
  after(async () => {
    await app.close();
    await redis.stop();
  });

  test("a flood of theme choices without a cookie writes nothing: the theme is a cookie, validated", async () => {
    const before = await sessionKeys();
    const flood = await Promise.all(
      Array.from({ length: 500 }, () => createTestClient(app).post("/theme", { theme: "dark", back: "/" })),
    );
    assert.ok(flood.every((page) => page.status === 303));
    assert.equal(await sessionKeys(), before, "no session started by a theme choice");
    const [first] = flood;
    assert.deepEqual(first?.setCookies, ["theme=dark; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax"]);

    const browser = createTestClient(app);
    await browser.post("/theme", { theme: "dark", back: "/login" });
    assert.match((await browser.get("/login")).body, /<html lang="en" data-theme="dark">/);
    // It is this browser's choice, signed in or not: it survives sign-up, and writes nothing then either.
    await signUp(browser);
    const signedIn = await browser.get("/");
    assert.match(signedIn.body, /<html lang="en" data-theme="dark">/);
    const keys = await sessionKeys();
    await browser.post("/theme", { theme: "light", back: "/" });
    assert.equal(await sessionKeys(), keys);
    assert.match((await browser.get("/")).body, /data-theme="light"/);
    // Anything but a known theme clears the cookie; a forged cookie value is ignored.
    const cleared = await browser.post("/theme", { theme: "<script>", back: "/" });
    assert.match(cleared.setCookies[0] ?? "", /^theme=; Max-Age=0;/);
    assert.match((await browser.get("/", { cookie: "theme=<b>" })).body, /<html lang="en">/);
  });

  test("a logout without a session starts none", async () => {
    const before = await sessionKeys();
    for (let i = 0; i < 50; i++) {
      const page = await createTestClient(app).post("/logout");
      assert.equal(page.status, 303);
      // At most a clearing cookie: no session was started.
      assert.ok(
        page.setCookies.every((line) => /Max-Age=0;/.test(line)),
        page.setCookies.join(),
      );
    }
    assert.equal(await sessionKeys(), before);
  });

  test("on a full Redis, ending sessions answers with its notice (the sessions ended), not a 503 page", async () => {
    const username = uniqueName();
    const before = await sessionKeys();
    const [main, other, third, fourth] = [1, 2, 3, 4].map(() => createTestClient(app));
    await signUp(main as TestClient, username);
    for (const browser of [other, third, fourth]) await logIn(browser as TestClient, username);
    const ids = [...((await main?.get("/sessions"))?.body ?? "").matchAll(/\/sessions\/([\w-]{16})\/end/g)];
    assert.equal(ids.length, 4);
    await raw("CONFIG", "SET", "maxmemory", "1");
    try {
      // End all other sessions (three): done, and said so on the page itself.
      const ended = await main?.post("/sessions/end-others");
      assert.equal(ended?.status, 200, ended?.body);
      assert.match(ended?.body ?? "", /3 other sessions ended\./);
      for (const browser of [other, third, fourth]) {
        assert.match((await browser?.get("/"))?.body ?? "", /You are not logged in/);
      }
      // Log out: the session ends, the cookie is cleared, the page says so.
      const loggedOut = await main?.post("/logout");
      assert.equal(loggedOut?.status, 200, loggedOut?.body);
      assert.match(loggedOut?.body ?? "", /You have logged out\./);
      assert.match(loggedOut?.setCookies[0] ?? "", /^lk=; Max-Age=0/);
      assert.equal(await sessionKeys(), before, "every session of the user ended");
    } finally {
      await raw("CONFIG", "SET", "maxmemory", "0");
    }
    // "End this session" from the list, on a full Redis.
    const browser = createTestClient(app);
    await logIn(browser, username);
    const id = /\/sessions\/([\w-]{16})\/end/.exec((await browser.get("/sessions")).body)?.[1];
    await raw("CONFIG", "SET", "maxmemory", "1");
    try {
      const page = await browser.post(`/sessions/${id}/end`);
      assert.equal(page.status, 200, page.body);
      assert.match(page.body, /You have logged out\./);
      assert.equal(await sessionKeys(), before);
    } finally {
      await raw("CONFIG", "SET", "maxmemory", "0");
    }
  });
});

describe("the anonymous-session bound", () => {
  test("per client, then for all clients together, per window", async () => {
    const limit = createAnonymousLimit({ maxPerClient: 2, maxTotal: 3 });
    const admitted = [
      await limit.admit("192.0.2.1"),
      await limit.admit("192.0.2.1"),
      await limit.admit("192.0.2.1"),
      await limit.admit("192.0.2.2"),
      await limit.admit("192.0.2.3"),
    ];
    assert.deepEqual(admitted, [true, true, false, true, false]);
    await limit.close();
  });

  test("a logout beyond the bound still logs out; the notice is on the page itself", async () => {
    const app = await buildApp(
      { ...DEFAULT_CONFIG, logLevel: "silent" },
      { anonymous: { maxPerClient: 1 }, throttle: { maxSignupsPerIP: 100 } },
    );
    try {
      const answers: number[] = [];
      for (let i = 0; i < 3; i++) {
        const browser = createTestClient(app);
        await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
        const page = await browser.post("/logout");
        answers.push(page.status);
        if (page.status === 200) assert.match(page.body, /You have logged out\./);
        assert.match((await browser.get("/")).body, /You are not logged in/);
      }
      assert.deepEqual(answers, [303, 200, 200], "the first notice in a session, the others inline");
    } finally {
      await app.close();
    }
  });
});
