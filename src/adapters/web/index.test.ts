/**
 * What the shared adapter suite does not reach in latchkey/web: bare Headers (Next.js `headers()`), a
 * cookie store (`cookies()`), `applyTo` on immutable responses, and bad input at the boundary. The
 * suite (test/adapters) proves the rest through `handle`, on memory and Redis.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createSessionManager } from "../../core/session-manager.js";
import { createMemoryStore } from "../../stores/memory/index.js";
import { type CookieJarOptions, createWebSessions } from "./index.js";

const sessions = createSessionManager({
  store: createMemoryStore(),
  fields: { username: "string", note: "string", prefs: "json" },
  maxFieldBytes: 64,
  maxSessionBytes: 256,
});
const web = createWebSessions({ sessions: sessions as never });
const post = (headers: Record<string, string> = {}) =>
  new Request("http://app.test/", {
    method: "POST",
    headers: { "sec-fetch-site": "same-origin", ...headers },
  });

after(() => sessions.store.close());

describe("latchkey/web", () => {
  test("applyTo: the cookie on an immutable Response.redirect (a copy), on Headers in place, once", async () => {
    const session = web.session(post());
    await session.create("ada");
    assert.match(session.setCookie ?? "", /^lk=[\w-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/);
    const redirect = Response.redirect("http://app.test/", 303);
    const sent = session.applyTo(redirect);
    assert.notEqual(sent, redirect, "immutable headers: a copy");
    assert.equal(sent.status, 303);
    assert.equal(sent.headers.get("location"), "http://app.test/");
    assert.equal(sent.headers.getSetCookie().length, 1);
    assert.equal(sent.headers.get("cache-control"), "no-store");
    assert.equal(session.setCookie, undefined, "sent once");
    const headers = new Headers({ "set-cookie": "theme=dark; Path=/" });
    await session.rotate();
    assert.equal(session.applyTo(headers), headers);
    assert.equal(headers.getSetCookie().length, 2, "other cookies are kept");
  });

  test("a bare Headers (Next.js headers()): the cookie read, https from X-Forwarded-Proto as Next.js sets it", async () => {
    const { token } = await sessions.create("ada", { data: { username: "ada" } });
    const secure = web.session(new Headers({ cookie: `__Host-lk=${token}`, "x-forwarded-proto": "https" }));
    assert.equal((await secure.load())?.data.username, "ada");
    const plain = web.session(new Headers({ cookie: `lk=${token}`, "x-forwarded-proto": "http" }));
    assert.equal((await plain.load())?.userId, "ada");
    assert.equal(web.isCrossOrigin(new Headers({ "sec-fetch-site": "cross-site" })), true);
    assert.equal(web.isCrossOrigin(new Headers({ origin: "https://a.test", host: "a.test" })), false);
  });

  test("renewal: never where no cookie can be set (bare Headers, a server component); with a cookie store or a Request it is", async () => {
    let ahead = 0;
    const store = createMemoryStore();
    const renewing = createSessionManager({
      store,
      renewAfterSeconds: 600,
      renewGraceSeconds: 60,
      clock: () => Date.now() + ahead,
    });
    const renewingWeb = createWebSessions({ sessions: renewing as never });
    try {
      const { token } = await renewing.create("ada");
      ahead = 601_000;
      const component = renewingWeb.session(new Headers({ cookie: `lk=${token}` }));
      assert.equal((await component.load())?.userId, "ada");
      assert.equal(component.token, token, "not renewed: its cookie could not reach the browser");
      assert.equal(component.setCookie, undefined);

      const written: string[] = [];
      const action = renewingWeb.session(new Headers({ cookie: `lk=${token}` }), {
        cookies: { set: (_name: string, value: string) => written.push(value) },
      });
      assert.equal((await action.load())?.userId, "ada");
      assert.notEqual(action.token, token, "renewed in a server action with cookies()");
      assert.deepEqual(written, [action.token], "and the new cookie written at once");

      const handler = renewingWeb.session(
        new Request("http://app.test/", { headers: { cookie: `lk=${token}` } }),
      );
      assert.equal((await handler.load())?.userId, "ada", "the old token still works in its grace period");
      assert.equal(handler.token, action.token, "and reaches the same successor");
      assert.match(handler.setCookie ?? "", new RegExp(`^lk=${action.token};`));
    } finally {
      await store.close();
    }
  });

  test("a cookie store (cookies()): written at once, with the cookie's attributes", async () => {
    const set: [string, string, CookieJarOptions][] = [];
    const cookies = {
      set: (name: string, value: string, options: CookieJarOptions) => set.push([name, value, options]),
    };
    const session = web.session(post({ "x-forwarded-proto": "https" }), { cookies });
    const { id } = await session.create("ada", { browserSession: true });
    assert.equal(set.length, 1);
    const [name, value, options] = set[0] ?? [];
    assert.equal(name, "lk", "no proxy trusted and an http URL: not Secure");
    assert.equal(sessions.publicIdOf(value), id);
    assert.deepEqual(options, { httpOnly: true, secure: false, sameSite: "lax", path: "/" });
    await session.destroy();
    assert.deepEqual(set[1]?.[2], { httpOnly: true, secure: false, sameSite: "lax", path: "/", maxAge: 0 });
    assert.equal(session.setCookie, undefined, "nothing left for applyTo");
  });

  test("bad input: a value past the size limits or not serialisable is a 500 that says nothing, and nothing is written", async () => {
    const { token } = await sessions.create("ada", { data: { note: "kept" } });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const data of [{ note: "x".repeat(100) }, { prefs: cyclic }, { prefs: { big: "y".repeat(60) } }]) {
      const response = await web.handle(post({ cookie: `lk=${token}` }), async (session) => {
        await session.set(data as never);
        return new Response("written");
      });
      assert.equal(response.status, 500);
      assert.equal(await response.text(), "Internal Server Error");
      assert.deepEqual(response.headers.getSetCookie(), []);
    }
    assert.equal((await sessions.load(token))?.data.note, "kept", "the session is as it was");
  });

  test("handle: a cross-site POST is refused before the handler; an error of the app's own is the framework's", async () => {
    let ran = false;
    const refused = await web.handle(post({ "sec-fetch-site": "cross-site" }), () => {
      ran = true;
      return new Response("ran");
    });
    assert.equal(refused.status, 403);
    assert.equal(ran, false);
    await assert.rejects(
      web.handle(post(), () => {
        throw new TypeError("the app's bug");
      }),
      TypeError,
    );
    assert.throws(() => web.errorResponse(new Error("not ours")), /not ours/);
  });
});
