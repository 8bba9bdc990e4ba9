import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from "fastify";
import { createSessionManager, type SessionStore, StoreUnavailableError } from "../../index.js";
import { createMemoryStore } from "../../stores/memory/index.js";
import { type LatchkeyOptions, latchkey, type RequestSession } from "./index.js";

const fields = { username: "string", visits: "integer" } as const;

/**
 * `request.session` is typed by the application's `SessionTypes` registry, which belongs to whichever
 * application shares the compilation; these tests use their own schema, so they name it explicitly.
 */
const sessionOf = (request: FastifyRequest) => request.session as unknown as RequestSession<typeof fields>;

/** A store that records the name of every method called on it, and can be made to fail. */
function spyStore(inner: SessionStore): { store: SessionStore; calls: string[]; fail: { on: boolean } } {
  const calls: string[] = [];
  const fail = { on: false };
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || property === "close") return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        if (fail.on) return Promise.reject(new StoreUnavailableError("store down (test)"));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls, fail };
}

interface Harness {
  app: FastifyInstance;
  calls: string[];
  fail: { on: boolean };
  sessions: ReturnType<typeof createSessionManager<typeof fields>>;
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function harness(
  serverOptions: FastifyServerOptions = {},
  pluginOptions: Partial<LatchkeyOptions> = {},
): Promise<Harness> {
  const { store, calls, fail } = spyStore(createMemoryStore());
  const sessions = createSessionManager({ store, fields, absoluteTimeoutSeconds: 3600 });
  const app = Fastify(serverOptions);
  apps.push(app);
  await app.register(latchkey, {
    sessions: sessions as unknown as LatchkeyOptions["sessions"],
    ...pluginOptions,
  });
  app.get("/nothing", async () => "no session needed");
  app.get("/whoami", async (request) => {
    const first = await sessionOf(request).load();
    const second = await sessionOf(request).load();
    return {
      user: first?.data.username ?? null,
      same: first === second,
      publicId: sessionOf(request).publicId,
    };
  });
  app.get("/count", async (request) => {
    const session = await sessionOf(request).load({ increment: { visits: 1 } });
    return { visits: session?.data.visits ?? null };
  });
  app.post("/login", async (request) => {
    const session = await sessionOf(request).create("user-1", { data: { username: "ada" } });
    return { publicId: session.id };
  });
  app.post("/rotate", async (request) => ({ rotated: (await sessionOf(request).rotate()) !== null }));
  app.post("/logout", async (request) => ({ ended: await sessionOf(request).destroy() }));
  app.post("/rename", async (request) => {
    await sessionOf(request).load();
    const ok = await sessionOf(request).set({ username: "grace" });
    const visits = await sessionOf(request).increment("visits", 5);
    const session = await sessionOf(request).load();
    return { ok, visits, username: session?.data.username, cached: session?.data.visits };
  });
  return { app, calls, fail, sessions };
}

function setCookieOf(response: { headers: Record<string, unknown> }): string {
  const header = response.headers["set-cookie"];
  assert.equal(typeof header, "string", "exactly one Set-Cookie header");
  return header as string;
}

function tokenOf(setCookie: string): string {
  const match = /^[^=]+=([^;]*);/.exec(setCookie);
  assert.ok(match?.[1], `a token in ${setCookie}`);
  return match[1];
}

describe("latchkey fastify plugin: registration", () => {
  test("rejects bad options, naming the option", async () => {
    const sessions = createSessionManager({ store: createMemoryStore() });
    const cases: [Partial<LatchkeyOptions>, RegExp][] = [
      [{}, /option "sessions"/],
      [{ sessions, cookieName: "bad name" }, /option "cookieName"/],
      [{ sessions, cookieName: "__Host-lk" }, /option "cookieName".*prefix/],
      [{ sessions, secure: "yes" as unknown as boolean }, /option "secure"/],
    ];
    for (const [options, message] of cases) {
      const app = Fastify();
      apps.push(app);
      await assert.rejects(async () => {
        await app.register(latchkey, options as LatchkeyOptions);
        await app.ready();
      }, message);
    }
  });
});

describe("latchkey fastify plugin: cookie", () => {
  test("over HTTP: HttpOnly, SameSite=Lax, Path=/, Max-Age = absolute timeout, not Secure", async () => {
    const { app } = await harness();
    const response = await app.inject({ method: "POST", url: "/login" });
    const cookie = setCookieOf(response);
    assert.match(cookie, /^lk=[A-Za-z0-9_-]{43}; Max-Age=3600; Path=\/; HttpOnly; SameSite=Lax$/);
    assert.equal(response.headers["cache-control"], "no-store");
  });

  test("over HTTPS (X-Forwarded-Proto from a trusted proxy): __Host- prefix and Secure", async () => {
    const { app } = await harness({ trustProxy: true });
    const login = await app.inject({
      method: "POST",
      url: "/login",
      headers: { "x-forwarded-proto": "https" },
    });
    const cookie = setCookieOf(login);
    assert.match(
      cookie,
      /^__Host-lk=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
    const token = tokenOf(cookie);
    const https = await app.inject({
      url: "/whoami",
      headers: { "x-forwarded-proto": "https", cookie: `__Host-lk=${token}` },
    });
    assert.equal(https.json().user, "ada");
    // The same token under the unprefixed name is not read over HTTPS.
    const unprefixed = await app.inject({
      url: "/whoami",
      headers: { "x-forwarded-proto": "https", cookie: `lk=${token}` },
    });
    assert.equal(unprefixed.json().user, null);
  });

  test("X-Forwarded-Proto is ignored without trustProxy", async () => {
    const { app } = await harness();
    const response = await app.inject({
      method: "POST",
      url: "/login",
      headers: { "x-forwarded-proto": "https" },
    });
    assert.match(setCookieOf(response), /^lk=/);
    assert.doesNotMatch(setCookieOf(response), /Secure/);
  });

  test("secure: true forces Secure and the prefix; a custom cookie name is used", async () => {
    const { app } = await harness({}, { secure: true, cookieName: "sid" });
    const response = await app.inject({ method: "POST", url: "/login" });
    assert.match(setCookieOf(response), /^__Host-sid=.*; Secure; SameSite=Lax$/);
  });

  test("malformed, duplicated and huge cookies are no session, without a store call", async () => {
    const { app, calls, sessions } = await harness();
    const { token } = await sessions.create("user-1", { data: { username: "ada" } });
    calls.length = 0;
    const cookies = [
      "lk=not-a-token",
      `lk=${token}; lk=${token}`,
      `lk=${"A".repeat(5000)}`,
      "lk=",
      `lk="${token}"`,
      "=; ;; lk",
      `lk=${token}%00`,
    ];
    for (const cookie of cookies) {
      const response = await app.inject({ url: "/whoami", headers: { cookie } });
      assert.equal(response.statusCode, 200, cookie);
      assert.equal(response.json().user, null, cookie);
    }
    assert.deepEqual(calls, []);
    const good = await app.inject({ url: "/whoami", headers: { cookie: `other=1; lk=${token}; x=y` } });
    assert.equal(good.json().user, "ada");
  });
});

describe("latchkey fastify plugin: request.session", () => {
  test("routes that never use the session cost no store call and set no cookie", async () => {
    const { app, calls, sessions } = await harness();
    const { token } = await sessions.create("user-1");
    calls.length = 0;
    const response = await app.inject({ url: "/nothing", headers: { cookie: `lk=${token}` } });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers["set-cookie"], undefined);
    assert.deepEqual(calls, []);
  });

  test("load is lazy and cached: one store call for two loads", async () => {
    const { app, calls, sessions } = await harness();
    const { token, session } = await sessions.create("user-1", { data: { username: "ada" } });
    calls.length = 0;
    const response = await app.inject({ url: "/whoami", headers: { cookie: `lk=${token}` } });
    assert.deepEqual(response.json(), { user: "ada", same: true, publicId: session.id });
    assert.deepEqual(calls, ["load"]);
    assert.equal(response.headers["set-cookie"], undefined);
  });

  test("load with increment is one store call", async () => {
    const { app, calls, sessions } = await harness();
    const { token } = await sessions.create("user-1");
    calls.length = 0;
    for (const expected of [1, 2, 3]) {
      const response = await app.inject({ url: "/count", headers: { cookie: `lk=${token}` } });
      assert.equal(response.json().visits, expected);
    }
    assert.deepEqual(calls, ["load", "load", "load"]);
  });

  test("a cookie naming no session is cleared", async () => {
    const { app } = await harness();
    const response = await app.inject({ url: "/whoami", headers: { cookie: `lk=${"x".repeat(43)}` } });
    assert.equal(response.json().user, null);
    assert.match(setCookieOf(response), /^lk=; Max-Age=0; Path=\/; HttpOnly; SameSite=Lax$/);
  });

  test("create always issues a fresh token and destroys the previous session", async () => {
    const { app, sessions } = await harness();
    const planted = await sessions.create("attacker");
    const first = await app.inject({
      method: "POST",
      url: "/login",
      headers: { cookie: `lk=${planted.token}` },
    });
    const token = tokenOf(setCookieOf(first));
    assert.notEqual(token, planted.token);
    assert.equal(await sessions.load(planted.token), null);
    const second = await app.inject({ method: "POST", url: "/login", headers: { cookie: `lk=${token}` } });
    const token2 = tokenOf(setCookieOf(second));
    assert.notEqual(token2, token);
    assert.equal(await sessions.load(token), null);
    assert.equal((await sessions.load(token2))?.data.username, "ada");
  });

  test("rotate gives a new token and kills the old one", async () => {
    const { app, sessions } = await harness();
    const { token } = await sessions.create("user-1", { data: { username: "ada" } });
    const response = await app.inject({ method: "POST", url: "/rotate", headers: { cookie: `lk=${token}` } });
    assert.deepEqual(response.json(), { rotated: true });
    const fresh = tokenOf(setCookieOf(response));
    assert.equal(await sessions.load(token), null);
    assert.equal((await sessions.load(fresh))?.data.username, "ada");
    const none = await app.inject({ method: "POST", url: "/rotate" });
    assert.deepEqual(none.json(), { rotated: false });
  });

  test("destroy ends the session server-side and clears the cookie", async () => {
    const { app, sessions } = await harness();
    const { token } = await sessions.create("user-1");
    const response = await app.inject({ method: "POST", url: "/logout", headers: { cookie: `lk=${token}` } });
    assert.deepEqual(response.json(), { ended: true });
    assert.match(setCookieOf(response), /^lk=; Max-Age=0;/);
    assert.equal(await sessions.load(token), null);
    const again = await app.inject({ method: "POST", url: "/logout", headers: { cookie: `lk=${token}` } });
    assert.deepEqual(again.json(), { ended: false });
  });

  test("set and increment write through and update the loaded session", async () => {
    const { app, sessions } = await harness();
    const { token } = await sessions.create("user-1", { data: { username: "ada", visits: 1 } });
    const response = await app.inject({ method: "POST", url: "/rename", headers: { cookie: `lk=${token}` } });
    assert.deepEqual(response.json(), { ok: true, visits: 6, username: "grace", cached: 6 });
    const stored = await sessions.load(token);
    assert.deepEqual(stored?.data, { username: "grace", visits: 6 });
  });

  test("a store outage is a 503, not a 500, and the cookie is kept", async () => {
    const { app, fail, sessions } = await harness();
    const { token } = await sessions.create("user-1");
    fail.on = true;
    const response = await app.inject({ url: "/whoami", headers: { cookie: `lk=${token}` } });
    assert.equal(response.statusCode, 503);
    assert.equal(response.headers["set-cookie"], undefined);
  });

  test("the quick start in docs/frameworks.md: a form POST needs @fastify/formbody (415 without it)", async () => {
    const { default: formbody } = await import("@fastify/formbody");
    const sessions = createSessionManager({ store: createMemoryStore(), fields });
    const form = {
      method: "POST" as const,
      url: "/login",
      headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin" },
      payload: "username=ada",
    };
    for (const withParser of [false, true]) {
      const app = Fastify();
      if (withParser) await app.register(formbody);
      await app.register(latchkey, { sessions: sessions as never });
      app.post("/login", async (request, reply) => {
        const { username } = request.body as { username: string };
        await sessionOf(request).create(username, { data: { username } });
        return reply.redirect("/", 303);
      });
      const response = await app.inject(form);
      assert.equal(response.statusCode, withParser ? 303 : 415, response.body);
      await app.close();
    }
    await sessions.store.close();
  });
});
