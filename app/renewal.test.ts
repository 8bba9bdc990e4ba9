/**
 * Token renewal in the app (SESSION_RENEW_AFTER, SESSION_RENEW_GRACE), over HTTP (in process), on the
 * memory store and a standalone Redis: a signed-in browser gets a new session cookie once its token is
 * old enough, and goes on (same user, same visit count); requests already in flight with the old cookie
 * all get the same new one; after the grace period the old cookie signs nobody in.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { startRedisServer } from "../test/harness/redis-servers.js";
import { buildApp } from "./app.js";
import { auditLogger } from "./audit-log.js";
import { DEFAULT_CONFIG, type StoreConfig } from "./config.js";
import { createPasswordHasher } from "./passwords.js";
import { createTestClient, type Page, uniqueName, visitsOf } from "./test-client.js";

const RENEW_AFTER_SECONDS = 2;
const GRACE_SECONDS = 1;

const backends: { name: string; start(): Promise<{ store: StoreConfig; stop(): Promise<void> }> }[] = [
  { name: "memory store", start: async () => ({ store: { kind: "memory" }, stop: async () => {} }) },
  {
    name: "standalone Redis",
    start: async () => {
      const server = await startRedisServer();
      return { store: { kind: "redis", url: server.url }, stop: server.stop };
    },
  },
];

/** The session cookie's value a response sets ("" when it sets none). */
function sessionCookieOf(page: Page): string {
  const line = page.setCookies.find((cookie) => /^(__Host-)?lk=/.test(cookie) && !/Max-Age=0\b/.test(cookie));
  return line?.split(";")[0] ?? "";
}

for (const backend of backends) {
  describe(`token renewal over the ${backend.name}`, () => {
    let app: FastifyInstance;
    let stop: () => Promise<void>;

    before(async () => {
      const started = await backend.start();
      stop = started.stop;
      app = await buildApp(
        {
          ...DEFAULT_CONFIG,
          store: started.store,
          logLevel: "silent",
          renewAfterSeconds: RENEW_AFTER_SECONDS,
          renewGraceSeconds: GRACE_SECONDS,
        },
        {
          passwords: createPasswordHasher({ N: 1024, r: 8, p: 1 }),
          throttle: { maxSignupsPerIP: 1000, maxPerIP: 1000 },
        },
      );
    });
    after(async () => {
      await app.close();
      await stop();
    });

    test("an old token is replaced on the next view; requests in flight with it get the same new cookie; then it is dead", async () => {
      const browser = createTestClient(app);
      const username = uniqueName();
      const signedUp = await browser.post("/signup", { username, password: "correct horse battery" });
      assert.equal(signedUp.status, 303, signedUp.body);
      const first = await browser.get("/");
      assert.equal(sessionCookieOf(first), "", "a young token is kept");
      const visits = visitsOf(first) as number;
      assert.ok(visits >= 1);
      const oldCookie = browser.cookie as string;

      await sleep(RENEW_AFTER_SECONDS * 1000 + 100);
      // Five requests leave with the old cookie at once (five tabs): one renews, all get its successor.
      const pages = await Promise.all(
        Array.from({ length: 5 }, () => app.inject({ url: "/", headers: { cookie: oldCookie } })),
      );
      const asPages = pages.map((response) => {
        const raw = response.headers["set-cookie"];
        const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
        return { status: response.statusCode, headers: response.headers, body: response.body, setCookies };
      });
      const cookies = new Set(asPages.map(sessionCookieOf));
      assert.equal(cookies.size, 1, `one successor: ${[...cookies].join(" | ")}`);
      const [renewed] = [...cookies] as [string];
      assert.notEqual(renewed, "", "the new cookie is set");
      assert.notEqual(renewed, oldCookie);
      assert.match(asPages[0]?.setCookies.find((line) => line.startsWith(renewed)) ?? "", /HttpOnly/i);
      for (const page of asPages) {
        assert.equal(page.status, 200);
        assert.match(page.body, new RegExp(`Logged in as <strong>${username}</strong>`));
      }
      const counted = asPages.map((page) => visitsOf(page) as number).sort((a, b) => a - b);
      assert.equal(counted.at(-1), visits + 5, "every view counted, on one session");

      browser.setCookie(renewed);
      const sessionsPage = await browser.get("/sessions");
      assert.equal((sessionsPage.body.match(/<li class="session/g) ?? []).length, 1, "one session, not five");

      await sleep(GRACE_SECONDS * 1000 + 200);
      const stale = createTestClient(app);
      stale.setCookie(oldCookie);
      assert.doesNotMatch((await stale.get("/")).body, /Logged in as/, "the old cookie is dead");
      const after = await browser.get("/");
      assert.match(after.body, /Logged in as/);
      assert.equal(visitsOf(after), visits + 6);
    });
  });
}

test("a renewal is one audit line naming the new and the previous public id, never a token", () => {
  const lines: Record<string, unknown>[] = [];
  const log = {
    info: (fields: Record<string, unknown>) => lines.push(fields),
  } as unknown as FastifyBaseLogger;
  auditLogger(log)({
    type: "renewed",
    publicId: "AAAAAAAAAAAAAAAA",
    previousPublicId: "BBBBBBBBBBBBBBBB",
    userId: "u1",
  });
  assert.deepEqual(lines, [
    { audit: "session.renewed", session: "AAAAAAAAAAAAAAAA", previous: "BBBBBBBBBBBBBBBB" },
  ]);
});
