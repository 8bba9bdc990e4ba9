import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createSessionManager, type SessionStore, StoreUnavailableError } from "../../src/index.js";
import {
  type AdapterHarness,
  type AppUnderTest,
  FIELDS,
  type Sessions,
  type StartOptions,
  type SuiteResponse,
} from "./adapter-harness.js";

/** A store for one run of the suite, and a dead one (an outage) of the same kind. */
export interface StoreTarget {
  name: string;
  open(): Promise<SessionStore>;
  /** A store of the same kind whose backend does not answer (nothing listening, a failing server). */
  openDead(): Promise<SessionStore>;
}

/** Texts that must never reach a client: they name the backend or its errors. */
const INTERNALS = /ECONNREFUSED|127\.0\.0\.1|::1|redis|latchkey:|StoreUnavailable|at .*\.(ts|js):\d+/i;

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

function cookieOf(response: SuiteResponse): string {
  assert.equal(
    response.setCookies.length,
    1,
    `exactly one Set-Cookie, got ${JSON.stringify(response.setCookies)}`,
  );
  return response.setCookies[0] as string;
}

function tokenOf(setCookie: string): string {
  const match = /^[^=]+=([^;]*);/.exec(setCookie);
  assert.ok(match?.[1] && TOKEN.test(match[1]), `a token in ${setCookie}`);
  return match[1];
}

const json = (response: SuiteResponse): Record<string, unknown> => {
  assert.equal(response.status, 200, `status 200, got ${response.status}: ${response.body.slice(0, 200)}`);
  return JSON.parse(response.body) as Record<string, unknown>;
};

/**
 * The behaviour every adapter promises, run through the framework's own client on a real store. It
 * checks what the application's users see: cookies, status codes, bodies, what is left in the store.
 */
export function runAdapterSuite(harness: AdapterHarness, target: StoreTarget): void {
  describe(`${harness.name} adapter on ${target.name}`, () => {
    let store: SessionStore;
    let sessions: Sessions;
    const running: AppUnderTest[] = [];

    before(async () => {
      store = await target.open();
      sessions = createSessionManager({ store, fields: FIELDS, absoluteTimeoutSeconds: 3600 });
    });
    after(async () => {
      await Promise.all(running.splice(0).map((app) => app.close()));
      await store?.close();
    });

    const start = async (options: Partial<StartOptions> = {}): Promise<AppUnderTest> => {
      const app = await harness.start({ sessions, ...options });
      running.push(app);
      return app;
    };
    const logIn = async (app: AppUnderTest, user = "ada", headers: Record<string, string> = {}) => {
      const response = await app.request({ method: "POST", path: `/login?user=${user}`, headers });
      json(response);
      return { response, token: tokenOf(cookieOf(response)) };
    };
    const as = (token: string, extra: Record<string, string> = {}) => ({ cookie: `lk=${token}`, ...extra });

    test("log in: a fresh token in an HttpOnly, SameSite=Lax, Path=/ cookie, never cached", async () => {
      const app = await start();
      const { response, token } = await logIn(app);
      assert.match(
        cookieOf(response),
        /^lk=[A-Za-z0-9_-]{43}; Max-Age=3600; Path=\/; HttpOnly; SameSite=Lax$/,
      );
      assert.equal(response.headers["cache-control"], "no-store");
      const whoami = json(await app.request({ method: "GET", path: "/whoami", headers: as(token) }));
      assert.equal(whoami.user, "ada");
      assert.equal(whoami.username, "ada");
      assert.equal(whoami.same, true, "a second load in the same request is the cached one");
      assert.equal(whoami.publicId, sessions.publicIdOf(token));
    });

    test("over HTTPS from a trusted proxy: Secure and __Host-; the header is ignored without trust", async () => {
      const trusted = await start({ trustProxy: true });
      const https = { "x-forwarded-proto": "HTTPS" };
      const secure = await trusted.request({ method: "POST", path: "/login?user=ada", headers: https });
      assert.match(
        cookieOf(secure),
        /^__Host-lk=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
      );
      const token = tokenOf(cookieOf(secure));
      const whoami = await trusted.request({
        method: "GET",
        path: "/whoami",
        headers: { ...https, cookie: `__Host-lk=${token}` },
      });
      assert.equal(json(whoami).user, "ada", "the prefixed cookie is read back over HTTPS");

      const untrusting = await start();
      const plain = await untrusting.request({ method: "POST", path: "/login?user=ada", headers: https });
      assert.match(cookieOf(plain), /^lk=/);
      assert.doesNotMatch(cookieOf(plain), /Secure/);
    });

    test("Path, Domain, Partitioned as configured: __Secure- over HTTPS, read back, and cleared with the same attributes", async () => {
      const app = await start({
        trustProxy: true,
        secure: true,
        cookie: { cookiePath: "/", cookieDomain: "Example.com", sameSite: "none", partitioned: true },
      });
      const https = { "x-forwarded-proto": "https" };
      const login = await app.request({ method: "POST", path: "/login?user=ada", headers: https });
      assert.match(
        cookieOf(login),
        /^__Secure-lk=[A-Za-z0-9_-]{43}; Max-Age=\d+; Domain=example\.com; Path=\/; HttpOnly; Secure; SameSite=None; Partitioned$/,
      );
      const token = tokenOf(cookieOf(login));
      const cookie = `__Secure-lk=${token}`;
      const whoami = await app.request({ method: "GET", path: "/whoami", headers: { ...https, cookie } });
      assert.equal(json(whoami).user, "ada", "the __Secure- cookie is read back");
      const planted = await app.request({
        method: "GET",
        path: "/whoami",
        headers: { ...https, cookie: `__Host-lk=${token}` },
      });
      assert.equal(json(planted).user, null, "the __Host- name is not this configuration's cookie");
      const logout = await app.request({ method: "POST", path: "/logout", headers: { ...https, cookie } });
      assert.equal(
        cookieOf(logout),
        "__Secure-lk=; Max-Age=0; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=None; Partitioned",
        "a clearing cookie with another Domain or Path would not replace the browser's",
      );

      const narrow = await start({ trustProxy: true, cookie: { cookiePath: "/app", sameSite: "strict" } });
      const scoped = await narrow.request({ method: "POST", path: "/login?user=ada", headers: https });
      assert.match(
        cookieOf(scoped),
        /^__Secure-lk=[^;]+; Max-Age=\d+; Path=\/app; HttpOnly; Secure; SameSite=Strict$/,
      );
      const plain = await narrow.request({ method: "POST", path: "/login?user=ada" });
      assert.match(cookieOf(plain), /^lk=[^;]+; Max-Age=\d+; Path=\/app; HttpOnly; SameSite=Strict$/);
    });

    test("200 concurrent views are counted exactly", async () => {
      const app = await start();
      const { token } = await logIn(app);
      const views = await Promise.all(
        Array.from({ length: 200 }, () => app.request({ method: "GET", path: "/view", headers: as(token) })),
      );
      const counts = views.map((view) => json(view).visits as number).sort((a, b) => a - b);
      assert.deepEqual(
        counts,
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      const session = await sessions.load(token);
      assert.equal(session?.data.visits, 200);
    });

    test("log out ends the session in the store and clears the cookie", async () => {
      const app = await start();
      const { token } = await logIn(app);
      const logout = await app.request({ method: "POST", path: "/logout", headers: as(token) });
      assert.equal(json(logout).ended, true);
      assert.match(cookieOf(logout), /^lk=; Max-Age=0; Path=\/; HttpOnly; SameSite=Lax$/);
      assert.equal(await sessions.load(token), null, "the token is dead server-side, not just forgotten");
      const after = json(await app.request({ method: "GET", path: "/whoami", headers: as(token) }));
      assert.equal(after.user, null);
    });

    test("fixation: a session planted before login is destroyed, and login issues a fresh token", async () => {
      const app = await start();
      const planted = await sessions.create("mallory", { data: { username: "mallory" } });
      const { token } = await logIn(app, "ada", as(planted.token));
      assert.notEqual(token, planted.token);
      assert.equal(await sessions.load(planted.token), null, "the planted token is dead");
      assert.equal((await sessions.load(token))?.userId, "ada");
    });

    test("a duplicated, malformed or oversized cookie is no session, and costs no store call", async () => {
      const app = await start();
      const { token } = await logIn(app);
      const other = (await logIn(app, "grace")).token;
      for (const cookie of [
        `lk=${token}; lk=${other}`,
        `lk=${token}; lk=${token}`,
        "lk=not-a-token",
        `lk=${"A".repeat(5000)}`,
        "lk",
        "=;;=lk=",
      ]) {
        const whoami = json(await app.request({ method: "GET", path: "/whoami", headers: { cookie } }));
        assert.equal(whoami.user, null, cookie.slice(0, 60));
      }
    });

    test("a cookie naming no session is cleared; routes that never use the session send no cookie", async () => {
      const app = await start();
      const stale = "A".repeat(43);
      const whoami = await app.request({ method: "GET", path: "/whoami", headers: as(stale) });
      assert.equal(json(whoami).user, null);
      assert.match(cookieOf(whoami), /^lk=; Max-Age=0;/);
      const nothing = await app.request({ method: "GET", path: "/nothing", headers: as(stale) });
      assert.deepEqual(json(nothing), { ok: true });
      assert.deepEqual(nothing.setCookies, []);
    });

    test("rotate: a new token, the old one dead, the data kept", async () => {
      const app = await start();
      const { token } = await logIn(app);
      const rotated = await app.request({ method: "POST", path: "/rotate", headers: as(token) });
      assert.equal(json(rotated).id, sessions.publicIdOf(tokenOf(cookieOf(rotated))));
      const fresh = tokenOf(cookieOf(rotated));
      assert.notEqual(fresh, token);
      assert.equal(await sessions.load(token), null);
      assert.equal((await sessions.load(fresh))?.data.username, "ada");
      const none = await app.request({ method: "POST", path: "/rotate" });
      assert.equal(json(none).id, null);
    });

    test("renewal: a view with a token due for it gets the new cookie; concurrent views with the old one all get the same", async () => {
      let ahead = 0;
      const renewing = createSessionManager({
        store,
        fields: FIELDS,
        absoluteTimeoutSeconds: 3600,
        renewAfterSeconds: 2,
        renewGraceSeconds: 1,
        clock: () => Date.now() + ahead,
      });
      const app = await start({ sessions: renewing });
      const { token } = await logIn(app);
      const young = await app.request({ method: "GET", path: "/view", headers: as(token) });
      assert.equal(json(young).visits, 1);
      assert.deepEqual(young.setCookies, [], "a young token is kept");
      ahead = 2500;
      const views = await Promise.all(
        Array.from({ length: 10 }, () => app.request({ method: "GET", path: "/view", headers: as(token) })),
      );
      const tokens = new Set(views.map((view) => tokenOf(cookieOf(view))));
      assert.equal(tokens.size, 1, "one successor for every request in flight");
      const [successor] = [...tokens] as [string];
      assert.notEqual(successor, token);
      assert.match(cookieOf(views[0] as SuiteResponse), /HttpOnly/i);
      const counts = views.map((view) => json(view).visits as number).sort((a, b) => a - b);
      assert.equal(counts.at(-1), 11, "every view counted once");
      assert.equal((await renewing.load(successor))?.data.username, "ada");
      const after = await app.request({ method: "GET", path: "/view", headers: as(successor) });
      assert.equal(json(after).visits, 12);
      assert.deepEqual(after.setCookies, [], "the successor is young");
    });

    test("authenticatedAt: the login's time, refreshed by reauthenticate() for this request and the store", async () => {
      const app = await start();
      const { token } = await logIn(app);
      const createdAt = (await sessions.load(token))?.createdAt.getTime();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const answer = json(await app.request({ method: "POST", path: "/reauthenticate", headers: as(token) }));
      assert.equal(answer.ok, true);
      assert.equal(answer.before, createdAt, "at login");
      assert.ok((answer.after as number) > (answer.before as number), "refreshed for this request");
      const stored = (await sessions.load(token))?.authenticatedAt?.getTime() ?? 0;
      assert.ok(Math.abs(stored - (answer.after as number)) < 1000, "and in the store");
      assert.deepEqual(json(await app.request({ method: "POST", path: "/reauthenticate" })), {
        ok: false,
        before: null,
        after: null,
      });
    });

    test("set, unset and increment write through and update the request's loaded session", async () => {
      const app = await start();
      const { token } = await logIn(app);
      assert.deepEqual(
        json(await app.request({ method: "POST", path: "/rename?username=grace", headers: as(token) })),
        {
          ok: true,
          username: "grace",
        },
      );
      assert.deepEqual(json(await app.request({ method: "POST", path: "/bump", headers: as(token) })), {
        visits: 5,
      });
      assert.deepEqual(json(await app.request({ method: "POST", path: "/forget", headers: as(token) })), {
        ok: true,
        username: null,
      });
      const stored = await sessions.load(token);
      assert.equal(stored?.data.username, undefined);
      assert.equal(stored?.data.visits, 5);
      // Without a session nothing is written, and nothing is resurrected.
      await sessions.destroy(token);
      const late = json(
        await app.request({ method: "POST", path: "/rename?username=eve", headers: as(token) }),
      );
      assert.equal(late.ok, false);
      assert.equal(await sessions.load(token), null);
    });

    test("anonymous: a visitor's first write starts a session, a view alone never does, login carries it", async () => {
      const plain = await start();
      const refused = await plain.request({ method: "POST", path: "/bump" });
      assert.equal(json(refused).visits, null, "without anonymous: true, no session, no write");
      assert.deepEqual(refused.setCookies, []);

      const app = await start({ anonymous: true });
      const view = await app.request({ method: "GET", path: "/view" });
      assert.equal(json(view).visits, null);
      assert.deepEqual(view.setCookies, [], "a view of a visitor starts nothing");
      const bump = await app.request({ method: "POST", path: "/bump" });
      assert.equal(json(bump).visits, 5);
      const anonymous = tokenOf(cookieOf(bump));
      const whoami = json(await app.request({ method: "GET", path: "/whoami", headers: as(anonymous) }));
      assert.equal(whoami.user, null, "an anonymous session has no user");
      const renamed = await app.request({
        method: "POST",
        path: "/rename?username=guest",
        headers: as(anonymous),
      });
      assert.equal(json(renamed).ok, true);
      assert.deepEqual(renamed.setCookies, [], "writes to an existing session set no new cookie");

      const login = await app.request({
        method: "POST",
        path: "/login?user=ada&keep=visits",
        headers: as(anonymous),
      });
      const signedIn = tokenOf(cookieOf(login));
      assert.notEqual(signedIn, anonymous);
      assert.equal(await sessions.load(anonymous), null, "the pre-login token died at login");
      const after = json(await app.request({ method: "GET", path: "/view", headers: as(signedIn) }));
      assert.equal(after.visits, 6, "the kept field survived login");
      assert.equal((await sessions.load(signedIn))?.userId, "ada");
    });

    test("a browser-session login sets a cookie without Max-Age, and a rotation keeps it so", async () => {
      const app = await start();
      const login = await app.request({ method: "POST", path: "/login?user=ada&browser=1" });
      json(login);
      const cookie = cookieOf(login);
      assert.match(
        cookie,
        /^lk=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/,
        "no Max-Age, no Expires",
      );
      const rotate = await app.request({ method: "POST", path: "/rotate", headers: as(tokenOf(cookie)) });
      json(rotate);
      assert.doesNotMatch(cookieOf(rotate), /Max-Age|Expires/);
      const persistent = cookieOf((await logIn(app, "grace")).response);
      assert.match(persistent, /; Max-Age=3600;/, "a default login keeps a persistent cookie");
    });

    test("flash: set before a redirect, shown once after it, once between concurrent requests", async () => {
      const app = await start();
      const { token } = await logIn(app);
      json(await app.request({ method: "POST", path: "/flash?text=Saved", headers: as(token) }));
      const shown = json(await app.request({ method: "GET", path: "/flash", headers: as(token) }));
      assert.deepEqual(shown, { user: "ada", notice: "Saved" });
      const again = json(await app.request({ method: "GET", path: "/flash", headers: as(token) }));
      assert.equal(again.notice, null, "never twice");

      json(await app.request({ method: "POST", path: "/flash?text=Once", headers: as(token) }));
      const tabs = await Promise.all(
        Array.from({ length: 10 }, () => app.request({ method: "GET", path: "/flash", headers: as(token) })),
      );
      assert.equal(tabs.filter((tab) => json(tab).notice === "Once").length, 1, "one tab of ten gets it");
    });

    test("log out with a notice: the browser keeps an anonymous session that shows it once", async () => {
      const app = await start();
      const { token } = await logIn(app);
      const logout = await app.request({ method: "POST", path: "/logout?notice=Bye", headers: as(token) });
      assert.equal(json(logout).ended, true);
      const fresh = tokenOf(cookieOf(logout));
      assert.notEqual(fresh, token);
      assert.equal(await sessions.load(token), null, "the signed-in session ended");
      const shown = json(await app.request({ method: "GET", path: "/flash", headers: as(fresh) }));
      assert.deepEqual(shown, { user: null, notice: "Bye" });
      assert.equal(
        json(await app.request({ method: "GET", path: "/flash", headers: as(fresh) })).notice,
        null,
      );
    });

    test("cross-site state-changing requests are refused with 403 before the handler runs", async () => {
      const app = await start();
      const { token } = await logIn(app);
      const crossSite: Record<string, string>[] = [
        { "sec-fetch-site": "cross-site" },
        { "sec-fetch-site": "same-site" },
        { origin: "https://evil.example" },
      ];
      for (const headers of crossSite) {
        const refused = await app.request({ method: "POST", path: "/logout", headers: as(token, headers) });
        assert.equal(refused.status, 403, JSON.stringify(headers));
        assert.doesNotMatch(refused.body, INTERNALS);
      }
      assert.equal((await sessions.load(token))?.userId, "ada", "the refused logouts did nothing");
      const sameOrigin = await app.request({
        method: "POST",
        path: "/logout",
        headers: as(token, { "sec-fetch-site": "same-origin" }),
      });
      assert.equal(json(sameOrigin).ended, true);
      const safe = await app.request({
        method: "GET",
        path: "/whoami",
        headers: { "sec-fetch-site": "cross-site" },
      });
      assert.equal(safe.status, 200, "safe methods always pass");
    });

    test("a dead store: 503 with Retry-After and a generic body that names no internals, the cookie kept", async () => {
      const dead = createSessionManager({ store: await target.openDead(), fields: FIELDS });
      try {
        const app = await start({ sessions: dead });
        const token = "B".repeat(43);
        for (const request of [
          { method: "GET", path: "/whoami" },
          { method: "GET", path: "/view" },
          { method: "POST", path: "/login?user=ada" },
          { method: "POST", path: "/logout" },
          { method: "POST", path: "/rotate" },
          { method: "POST", path: "/bump" },
        ] as const) {
          const response = await app.request({ ...request, headers: as(token) });
          assert.equal(response.status, 503, `${request.path}: ${response.body.slice(0, 200)}`);
          assert.equal(response.headers["retry-after"], "5", `${request.path}: Retry-After on a 503`);
          assert.doesNotMatch(
            response.body,
            INTERNALS,
            `${request.path} leaks: ${response.body.slice(0, 300)}`,
          );
          assert.ok(
            response.setCookies.every((cookie) => !/Max-Age=0/.test(cookie)),
            "an outage does not log the user out",
          );
        }
      } finally {
        await dead.store.close();
      }
    });
  });
}

/** A store wrapper whose every call fails as a dead backend's would (for the memory store's outage). */
export function failingStore(inner: SessionStore): SessionStore {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || property === "close") return value;
      return () =>
        Promise.reject(
          new StoreUnavailableError("latchkey: redis load failed: connect ECONNREFUSED 127.0.0.1:6390", {
            cause: new Error("connect ECONNREFUSED 127.0.0.1:6390"),
          }),
        );
    },
  });
}
