/**
 * End to end in a real browser (Chromium through playwright-core): sign up, watch the visit counter on
 * reload, find the session on /sessions, refuse a cross-site logout link, log out. Screenshots of every
 * page go to $E2E_SCREENSHOTS (default: <tmpdir>/latchkey-e2e).
 *
 * The app keeps its sessions and accounts in each store named by LATCHKEY_E2E_STORES (comma-separated:
 * `memory`, the default; `redis`, a standalone server; `cluster`, a 3-master Cluster), started by the
 * test harness on free ports with the server LATCHKEY_TEST_SERVER names (`npm run test:valkey` runs
 * this file on Valkey, standalone and as a Cluster).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { type Browser, chromium, type Page } from "playwright-core";
import { startRedisCluster, startRedisServer } from "../test/harness/redis-servers.js";
import { buildApp } from "./app.js";
import { DEFAULT_CONFIG, type StoreConfig } from "./config.js";
import { uniqueName } from "./test-client.js";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = process.env.E2E_SCREENSHOTS ?? join(tmpdir(), "latchkey-e2e");

/** The stores the browser test runs on, each started for its run. */
const STORES: Record<string, () => Promise<{ store: StoreConfig; stop(): Promise<void> }>> = {
  memory: async () => ({ store: { kind: "memory" }, stop: async () => {} }),
  redis: async () => {
    const server = await startRedisServer();
    return { store: { kind: "redis", url: server.url }, stop: server.stop };
  },
  cluster: async () => {
    const cluster = await startRedisCluster();
    return { store: { kind: "redis-cluster", nodes: cluster.urls }, stop: cluster.stop };
  },
};
const SELECTED = (process.env.LATCHKEY_E2E_STORES || "memory").split(",").map((name) => name.trim());
for (const name of SELECTED) {
  if (!(name in STORES)) throw new Error(`LATCHKEY_E2E_STORES: unknown store ${JSON.stringify(name)}`);
}

for (const storeName of SELECTED) {
  describe(`in a real browser, sessions in ${storeName === "memory" ? "memory" : `${process.env.LATCHKEY_TEST_SERVER || "redis-server"} (${storeName})`}`, () => {
    let app: FastifyInstance;
    let browser: Browser;
    let base: string;
    let stopStore: (() => Promise<void>) | undefined;
    let storeConfig: StoreConfig;
    // The memory run's screenshots where they always were; another store's in a folder of its own.
    const shots = storeName === "memory" ? SHOTS : join(SHOTS, storeName);

    before(async () => {
      if (!existsSync(CHROMIUM)) {
        assert.fail(
          `${CHROMIUM} is missing: install Chromium (apt-get install -y chromium) to run the e2e test`,
        );
      }
      mkdirSync(shots, { recursive: true });
      const started = await (STORES[storeName] as (typeof STORES)["memory"])();
      stopStore = started.stop;
      storeConfig = started.store;
      app = await buildApp({ ...DEFAULT_CONFIG, store: started.store, logLevel: "silent" });
      await app.listen({ port: 0, host: "127.0.0.1" });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
      });
    });

    after(async () => {
      await browser?.close();
      await app?.close();
      await stopStore?.();
    });

    const shot = (page: Page, name: string) =>
      page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

    test("sign up, count visits, see the session, refuse a cross-site logout, log out", async () => {
      const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on("pageerror", (error) => problems.push(error.message));
      page.on("console", (message) => {
        // 401 and 404 are expected below; anything else (a CSP violation, a missing asset) is not.
        if (!/status of (401|404)/.test(message.text())) problems.push(message.text());
      });
      const missing: string[] = [];
      page.on("response", (response) => {
        if (response.status() === 404 && !response.url().endsWith("/no-such-page"))
          missing.push(response.url());
      });

      await page.goto(base);
      assert.match((await page.textContent("main")) ?? "", /You are not logged in/);
      await shot(page, "01-home-anonymous");

      await page.click("text=Sign up");
      assert.equal(new URL(page.url()).pathname, "/signup");
      await shot(page, "02-signup");
      const username = uniqueName("Ada");
      await page.fill("#username", username);
      await page.fill("#password", "correct horse battery");
      await page.click("button[type=submit]:has-text('Sign up')");

      await page.waitForURL(`${base}/`);
      assert.match((await page.textContent("main")) ?? "", new RegExp(`Logged in as ${username}\\.`));
      assert.equal(await page.textContent("#visits"), "1");
      for (const expected of ["2", "3"]) {
        await page.reload();
        assert.equal(await page.textContent("#visits"), expected);
      }
      await shot(page, "03-home-logged-in");

      const [cookie] = await context.cookies();
      assert.ok(cookie);
      assert.equal(cookie.name, "lk");
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, "Lax");
      assert.equal(cookie.path, "/");

      // The same user on another device.
      const other = await browser.newContext({
        userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:141.0) Gecko/20100101 Firefox/141.0",
      });
      const otherPage = await other.newPage();
      await otherPage.goto(`${base}/login`);
      await otherPage.fill("#username", username.toLowerCase());
      await otherPage.fill("#password", "correct horse battery");
      await otherPage.click("button[type=submit]");
      await otherPage.waitForURL(`${base}/`);

      await page.click("text=Your sessions");
      assert.equal(new URL(page.url()).pathname, "/sessions");
      const current = page.locator("li.session.current");
      assert.equal(await current.count(), 1);
      assert.match((await current.textContent()) ?? "", /Headless Chrome on Linux\s+This device/);
      assert.match((await current.textContent()) ?? "", /127\.0\.0\.1/);
      assert.equal(await page.locator("li.session").count(), 2);
      assert.match(
        (await page.locator("li.session:not(.current)").textContent()) ?? "",
        /Firefox on Windows/,
      );
      await shot(page, "04-sessions");
      await page.click("text=End all other sessions");
      await page.waitForURL(`${base}/sessions`);
      assert.equal(await page.locator("li.session").count(), 1);
      await otherPage.reload();
      assert.match(
        (await otherPage.textContent("main")) ?? "",
        /You are not logged in/,
        "the other device is out",
      );
      await other.close();

      // A link on another site to GET /logout asks first. The other site is faked by the browser itself.
      await page.route("http://evil.test/", (route) =>
        route.fulfill({
          contentType: "text/html",
          body: `<a id="evil" href="${base}/logout">win a prize</a>`,
        }),
      );
      await page.goto("http://evil.test/");
      await page.click("#evil");
      await page.waitForURL(`${base}/logout`);
      assert.match((await page.textContent("main")) ?? "", /Log out\?/);
      await shot(page, "05-logout-confirm");
      await page.goto(base);
      assert.equal(await page.textContent("#visits"), "4", "still logged in");

      const [signedIn] = await context.cookies();
      await page.click("header button:has-text('Log out')");
      await page.waitForURL(`${base}/`);
      assert.match((await page.textContent("main")) ?? "", /You are not logged in/);
      // The notice comes from a fresh anonymous session, whose cookie replaced the signed-in one.
      assert.equal(await page.textContent("[role=status]"), "You have logged out.");
      await shot(page, "05b-logged-out-notice");
      const after = await context.cookies();
      assert.equal(after.length, 1);
      assert.notEqual(after[0]?.value, signedIn?.value, "the signed-in token is gone from the browser");
      await page.reload();
      assert.equal(await page.locator("[role=status]").count(), 0, "the notice is shown once");

      await page.goto(`${base}/login`);
      await page.fill("#username", username);
      await page.fill("#password", "wrong password");
      await page.click("button[type=submit]");
      assert.match((await page.textContent(".alert")) ?? "", /Wrong username or password/);
      await shot(page, "06-login-failed");

      await page.goto(`${base}/no-such-page`);
      await shot(page, "07-not-found");
      assert.deepEqual(problems, [], "no script errors, no CSP violations");
      assert.deepEqual(missing, [], "no missing assets");
      await context.close();
    });

    test("a theme chosen before login survives sign-up, and the welcome notice shows once", async () => {
      const context = await browser.newContext({ colorScheme: "light" });
      const page = await context.newPage();
      await page.goto(`${base}/signup`);
      assert.deepEqual(await context.cookies(), [], "a visit starts no session");
      await page.click("footer button:has-text('Dark')");
      await page.waitForURL(`${base}/signup`);
      assert.equal(await page.getAttribute("html", "data-theme"), "dark");
      const background = await page.evaluate<string>(
        "getComputedStyle(document.documentElement).backgroundColor",
      );
      assert.equal(background, "rgb(18, 20, 27)", "the dark palette, though the system is light");
      assert.deepEqual(
        (await context.cookies()).map(({ name, value }) => `${name}=${value}`),
        ["theme=dark"],
        "the choice is a cookie of its own: no session started",
      );
      const username = uniqueName("Hedy");
      await page.fill("#username", username);
      await page.fill("#password", "correct horse battery");
      await page.click("button[type=submit]");
      await page.waitForURL(`${base}/`);
      assert.equal(await page.getAttribute("html", "data-theme"), "dark", "kept across sign-up");
      assert.equal(await page.textContent("[role=status]"), `Welcome, ${username}: your account is ready.`);
      await shot(page, "08a-theme-and-welcome");
      const names = (await context.cookies()).map(({ name }) => name).sort();
      assert.deepEqual(names, ["lk", "theme"], "the session cookie beside the theme's");
      await page.reload();
      assert.equal(await page.locator("[role=status]").count(), 0, "the welcome is shown once");
      await context.close();
    });

    test("account: change the password (the other browser is signed out), then delete the account", async () => {
      const username = uniqueName("Ada");
      const [mine, theirs] = [await browser.newContext(), await browser.newContext()];
      const page = await mine.newPage();
      await page.goto(`${base}/signup`);
      await page.fill("#username", username);
      await page.fill("#password", "correct horse battery");
      await page.click("button[type=submit]");
      await page.waitForURL(`${base}/`);
      const other = await theirs.newPage();
      await other.goto(`${base}/login`);
      await other.fill("#username", username);
      await other.fill("#password", "correct horse battery");
      await other.click("form.stack button[type=submit]");
      await other.waitForURL(`${base}/`);

      await page.click("header a:has-text('Account')");
      await page.waitForURL(`${base}/account`);
      await page.fill("#current-password", "correct horse battery");
      await page.fill("#new-password", "a brand new passphrase");
      await page.click("button:has-text('Change password')");
      await page.waitForURL(`${base}/account`);
      assert.equal(
        await page.textContent("[role=status]"),
        "Your password has been changed, and 1 other session ended.",
      );
      await shot(page, "10-account-password-changed");
      await other.reload();
      assert.match((await other.textContent("main")) ?? "", /not logged in|Your session has ended/);

      await page.fill("#delete-password", "a brand new passphrase");
      await page.click("button:has-text('Delete my account')");
      await page.waitForURL(`${base}/`);
      assert.equal(
        await page.textContent("[role=status]"),
        "Your account has been deleted, and every session of it ended.",
      );
      await shot(page, "11-account-deleted");
      await mine.close();
      await theirs.close();
    });

    test("keep me signed in: ticked, a cookie for 30 days; unticked, one that ends with the browser", async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const username = uniqueName("Ada");
      await page.goto(`${base}/signup`);
      await page.fill("#username", username);
      await page.fill("#password", "correct horse battery");
      await page.click("button[type=submit]");
      await page.waitForURL(`${base}/`);
      assert.equal((await context.cookies())[0]?.expires, -1, "sign-up: a browser-session cookie");
      await page.click("header button:has-text('Log out')");
      await page.waitForURL(`${base}/`);

      await page.goto(`${base}/login`);
      await page.fill("#username", username);
      await page.fill("#password", "correct horse battery");
      await page.check("input[name=remember]");
      await shot(page, "06b-keep-me-signed-in");
      await page.click("button[type=submit]");
      await page.waitForURL(`${base}/`);
      const [kept] = await context.cookies();
      const days = ((kept?.expires ?? 0) * 1000 - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days <= 30, `the cookie lasts 30 days, got ${days.toFixed(3)}`);
      await page.goto(`${base}/sessions`);
      assert.match((await page.textContent("main")) ?? "", /Kept signed in/);
      await context.close();
    });

    test("token renewal: an old cookie is replaced on the next view, in two tabs at once, and is then dead", async () => {
      // An app of its own, renewing after 2 s with a 1 s grace, over the same store.
      const renewing = await buildApp({
        ...DEFAULT_CONFIG,
        store: storeConfig,
        logLevel: "silent",
        renewAfterSeconds: 2,
        renewGraceSeconds: 1,
      });
      try {
        await renewing.listen({ port: 0, host: "127.0.0.1" });
        const origin = `http://127.0.0.1:${(renewing.server.address() as AddressInfo).port}`;
        const context = await browser.newContext();
        const page = await context.newPage();
        const username = uniqueName("Ada");
        await page.goto(`${origin}/signup`);
        await page.fill("#username", username);
        await page.fill("#password", "correct horse battery");
        await page.click("button[type=submit]");
        await page.waitForURL(`${origin}/`);
        const [old] = await context.cookies();
        assert.ok(old?.value);

        await new Promise((resolve) => setTimeout(resolve, 2200));
        const other = await context.newPage();
        await Promise.all([page.reload(), other.goto(origin)]);
        for (const tab of [page, other]) {
          assert.match((await tab.textContent("main")) ?? "", new RegExp(`Logged in as ${username}\\.`));
        }
        const visits = [
          Number(await page.textContent("#visits")),
          Number(await other.textContent("#visits")),
        ];
        assert.deepEqual(visits.sort(), [2, 3], "both views counted, on one session");
        const [renewed] = await context.cookies();
        assert.ok(renewed?.value && renewed.value !== old.value, "the browser holds the new token");
        assert.equal(renewed.httpOnly, true);

        await new Promise((resolve) => setTimeout(resolve, 1200));
        await page.reload();
        assert.equal(await page.textContent("#visits"), "4", "the new cookie goes on");
        const stale = await browser.newContext();
        await stale.addCookies([{ ...old, expires: -1 }]);
        const stalePage = await stale.newPage();
        await stalePage.goto(origin);
        assert.match(
          (await stalePage.textContent("main")) ?? "",
          /You are not logged in/,
          "the old cookie is dead",
        );
        await stale.close();
        await context.close();
      } finally {
        await renewing.close();
      }
    });

    test("readable on a phone", async () => {
      const context = await browser.newContext({
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 2,
      });
      const page = await context.newPage();
      await page.goto(`${base}/signup`);
      await page.fill("#username", uniqueName("Grace"));
      await page.fill("#password", "correct horse battery");
      await page.click("button[type=submit]");
      await page.waitForURL(`${base}/`);
      const overflow = await page.evaluate<boolean>(
        "document.documentElement.scrollWidth > window.innerWidth",
      );
      assert.equal(overflow, false, "no horizontal scrolling");
      await shot(page, "08-home-phone");
      await page.goto(`${base}/sessions`);
      await shot(page, "09-sessions-phone");
      await context.close();
    });
  });
}
