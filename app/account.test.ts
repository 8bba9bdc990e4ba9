/**
 * GET /account, changing the password and deleting the account, over HTTP (in process), on the memory
 * store and a standalone Redis: what ends, what keeps working, what a wrong current password changes
 * (nothing) and counts (a login attempt), and the race with a login in flight.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { startRedisServer } from "../test/harness/redis-servers.js";
import { buildApp } from "./app.js";
import { DEFAULT_CONFIG, type StoreConfig } from "./config.js";
import { createPasswordHasher, type PasswordHasher } from "./passwords.js";
import { createTestClient, type TestClient, uniqueName } from "./test-client.js";

const PASSWORD = "correct horse battery";
const NEW_PASSWORD = "tr0ub4dor & 3";

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

/** Cheap scrypt, and a hook to hold the next verification back (the login race). */
function testHasher(): PasswordHasher & { holdNextVerify(): () => void } {
  const inner = createPasswordHasher({ N: 1024, r: 8, p: 1 });
  let hold: Promise<void> | undefined;
  return {
    ...inner,
    async verify(password, stored) {
      const result = await inner.verify(password, stored);
      const waiting = hold;
      hold = undefined;
      await waiting;
      return result;
    },
    holdNextVerify() {
      let release: () => void = () => {};
      hold = new Promise((resolve) => {
        release = resolve;
      });
      return release;
    },
  };
}

for (const backend of backends) {
  describe(`account changes over the ${backend.name}`, () => {
    let app: FastifyInstance;
    let stop: () => Promise<void>;
    const passwords = testHasher();
    const client = () => createTestClient(app);

    before(async () => {
      const started = await backend.start();
      stop = started.stop;
      app = await buildApp(
        { ...DEFAULT_CONFIG, store: started.store, logLevel: "silent" },
        { passwords, throttle: { maxSignupsPerIP: 1000, maxPerIP: 1000 } },
      );
    });
    after(async () => {
      await app.close();
      await stop();
    });

    const signUp = async (browser: TestClient, username = uniqueName()) => {
      const page = await browser.post("/signup", { username, password: PASSWORD });
      assert.equal(page.status, 303, page.body);
      return username;
    };
    const logIn = (browser: TestClient, username: string, password = PASSWORD) =>
      browser.post("/login", { username, password });
    const signedIn = async (browser: TestClient) => /Logged in as/.test((await browser.get("/")).body);

    test("GET /account: the two forms for a signed-in user, styled as the others; the login page for others", async () => {
      assert.equal((await client().get("/account")).headers.location, "/login");
      const browser = client();
      await signUp(browser);
      const page = await browser.get("/account");
      assert.equal(page.status, 200);
      assert.match(page.body, /<form class="stack" method="post" action="\/account\/password">/);
      assert.match(page.body, /name="current_password"[\s\S]*name="new_password"/);
      assert.match(page.body, /<form class="stack" method="post" action="\/account\/delete">/);
      assert.match(page.body, /<link rel="stylesheet"/);
      assert.match(page.body, /href="\/account">Account<\/a>/, "linked from the header");
    });

    test("change password: this browser stays signed in with a new token, every other session ends, the old password stops working", async () => {
      const [browser, other, third] = [client(), client(), client()];
      const username = await signUp(browser);
      for (const device of [other, third]) assert.equal((await logIn(device, username)).status, 303);
      const before = browser.cookie;
      const confirmedAt = async () =>
        Date.parse(/<time datetime="([^"]+)"/.exec((await browser.get("/account")).body)?.[1] ?? "");
      const atSignUp = await confirmedAt();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const changed = await browser.post("/account/password", {
        current_password: PASSWORD,
        new_password: NEW_PASSWORD,
      });
      assert.equal(changed.status, 303, changed.body);
      assert.equal(changed.headers.location, "/account");
      assert.notEqual(browser.cookie, before, "a new token");
      const account = await browser.get("/account");
      assert.match(account.body, /Your password has been changed, and 2 other sessions ended\./);
      assert.ok(
        (await confirmedAt()) > atSignUp,
        "the change re-authenticated the session (authenticatedAt)",
      );
      assert.ok(await signedIn(browser), "this browser stays signed in");
      assert.ok(!(await signedIn(other)) && !(await signedIn(third)), "the others ended");
      const replay = client();
      replay.setCookie(before);
      assert.ok(!(await signedIn(replay)), "the old token is dead");
      assert.equal((await logIn(client(), username)).status, 401, "the old password no longer signs in");
      assert.equal((await logIn(client(), username, NEW_PASSWORD)).status, 303, "the new one does");
    });

    test("a wrong current password changes nothing and counts toward the login throttle", async () => {
      const [browser, other] = [client(), client()];
      const username = await signUp(browser);
      await logIn(other, username);
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const page = await browser.post("/account/password", {
          current_password: `wrong password ${i}`,
          new_password: NEW_PASSWORD,
        });
        statuses.push(page.status);
        if (page.status === 401) assert.match(page.body, /Your current password is not right/);
      }
      // 5 attempts per account and client, as at /login; the sixth waits, the right password too.
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
      const locked = await browser.post("/account/delete", { current_password: PASSWORD });
      assert.equal(locked.status, 429, "the same counter guards deletion");
      assert.equal((await logIn(browser, username)).status, 429, "and the login form, from this client");
      assert.ok(await signedIn(other), "nothing ended");
    });

    test("a too-short new password is refused before anything is checked or counted", async () => {
      const browser = client();
      await signUp(browser);
      const page = await browser.post("/account/password", {
        current_password: PASSWORD,
        new_password: "short",
      });
      assert.equal(page.status, 400);
      assert.match(page.body, /Passwords need at least/);
    });

    test("delete account: every session ends, the account is gone, its name can be signed up again", async () => {
      const [browser, other] = [client(), client()];
      const username = await signUp(browser);
      await logIn(other, username);
      const wrong = await browser.post("/account/delete", { current_password: "not the password" });
      assert.equal(wrong.status, 401);
      assert.ok(await signedIn(other), "a wrong password deletes nothing");
      const deleted = await browser.post("/account/delete", { current_password: PASSWORD });
      assert.equal(deleted.status, 303, deleted.body);
      assert.match((await browser.get("/")).body, /Your account has been deleted/);
      assert.ok(!(await signedIn(browser)) && !(await signedIn(other)), "every session ended");
      assert.equal((await logIn(client(), username)).status, 401, "no account of that name");
      await signUp(client(), username);
      assert.equal((await logIn(client(), username)).status, 303, "the name is free again");
    });

    test("cross-site posts to both forms are refused with 403, and change nothing", async () => {
      const browser = client();
      const username = await signUp(browser);
      for (const [url, form] of [
        ["/account/password", { current_password: PASSWORD, new_password: NEW_PASSWORD }],
        ["/account/delete", { current_password: PASSWORD }],
      ] as const) {
        const page = await browser.post(url, form, { "sec-fetch-site": "cross-site" });
        assert.equal(page.status, 403, url);
      }
      assert.ok(await signedIn(browser));
      assert.equal((await logIn(client(), username)).status, 303, "the password is unchanged");
    });

    test("a login whose password check was in flight during a password change does not survive it", async () => {
      const browser = client();
      const username = await signUp(browser);
      const release = passwords.holdNextVerify();
      const racer = client();
      const login = logIn(racer, username); // checked against the old password, then held back
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The change's own check is the next verify: hold it no longer than the login's.
      const change = browser.post("/account/password", {
        current_password: PASSWORD,
        new_password: NEW_PASSWORD,
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      const [loggedIn, changed] = await Promise.all([login, change]);
      assert.equal(changed.status, 303, changed.body);
      assert.ok(!(await signedIn(racer)), `the racing login (${loggedIn.status}) has no live session`);
      assert.ok(await signedIn(browser));
    });
  });
}
