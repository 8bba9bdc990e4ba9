/**
 * Behind a TLS-terminating proxy (TRUST_PROXY), and the per-IP login throttle (with small limits so the
 * test stays fast; the defaults are exercised by http.test.ts).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildApp } from "./app.js";
import { DEFAULT_CONFIG } from "./config.js";
import { createTestClient, uniqueName, visitsOf } from "./test-client.js";

const PASSWORD = "correct horse battery";

describe("behind a proxy", () => {
  test("X-Forwarded-Proto https from a trusted proxy: __Host- Secure cookie, HSTS, client IP", async () => {
    const app = await buildApp({ ...DEFAULT_CONFIG, trustProxy: ["127.0.0.1"], logLevel: "silent" });
    try {
      const browser = createTestClient(app, {
        "x-forwarded-proto": "https",
        "x-forwarded-for": "203.0.113.9",
      });
      const signup = await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
      assert.match(
        signup.setCookies[0] ?? "",
        // Sign-up gives a browser-session cookie (no Max-Age): "Keep me signed in" is a login choice.
        /^__Host-lk=[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
      );
      assert.equal(signup.headers["strict-transport-security"], "max-age=31536000");
      assert.equal(visitsOf(await browser.get("/")), 1);
      assert.match((await browser.get("/sessions")).body, /<dd>203\.0\.113\.9<\/dd>/);
    } finally {
      await app.close();
    }
  });

  test("logout over HTTPS sends Clear-Site-Data for cache and storage; over HTTP it does not", async () => {
    const app = await buildApp({ ...DEFAULT_CONFIG, trustProxy: ["127.0.0.1"], logLevel: "silent" });
    try {
      const https = createTestClient(app, { "x-forwarded-proto": "https" });
      await https.post("/signup", { username: uniqueName(), password: PASSWORD });
      const logout = await https.post("/logout");
      assert.equal(logout.status, 303);
      assert.equal(logout.headers["clear-site-data"], '"cache", "storage"');
      const plain = createTestClient(app);
      await plain.post("/signup", { username: uniqueName(), password: PASSWORD });
      assert.equal((await plain.post("/logout")).headers["clear-site-data"], undefined);
    } finally {
      await app.close();
    }
  });

  test("without TRUST_PROXY the forwarded headers are ignored", async () => {
    const app = await buildApp({ ...DEFAULT_CONFIG, logLevel: "silent" });
    try {
      const browser = createTestClient(app, {
        "x-forwarded-proto": "https",
        "x-forwarded-for": "203.0.113.9",
      });
      const signup = await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
      assert.match(signup.setCookies[0] ?? "", /^lk=/);
      assert.equal(signup.headers["strict-transport-security"], undefined);
      assert.doesNotMatch((await browser.get("/sessions")).body, /203\.0\.113\.9/);
    } finally {
      await app.close();
    }
  });

  test("a hop count trusts that many proxies", async () => {
    const app = await buildApp({ ...DEFAULT_CONFIG, trustProxy: 1, logLevel: "silent" });
    try {
      const browser = createTestClient(app, { "x-forwarded-proto": "https" });
      const signup = await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
      assert.match(signup.setCookies[0] ?? "", /^__Host-lk=/);
    } finally {
      await app.close();
    }
  });
});

describe("login throttle per IP", () => {
  test("too many failures from one IP block that IP, not others", async () => {
    const app = await buildApp(
      { ...DEFAULT_CONFIG, logLevel: "silent" },
      { throttle: { maxPerAccount: 100, maxPerIP: 3, windowSeconds: 60 } },
    );
    try {
      const login = (ip: string, username: string, password: string) =>
        app.inject({
          method: "POST",
          url: "/login",
          remoteAddress: ip,
          headers: { "content-type": "application/x-www-form-urlencoded" },
          payload: new URLSearchParams({ username, password }).toString(),
        });
      const username = uniqueName();
      await createTestClient(app).post("/signup", { username, password: PASSWORD });
      for (let i = 0; i < 3; i++)
        assert.equal((await login("198.51.100.7", uniqueName(), PASSWORD)).statusCode, 401);
      const blocked = await login("198.51.100.7", username, PASSWORD);
      assert.equal(blocked.statusCode, 429);
      assert.equal(blocked.headers["retry-after"], "60");
      assert.match(blocked.body, /Please wait 1 minutes/);
      assert.equal((await login("198.51.100.8", username, PASSWORD)).statusCode, 303);
    } finally {
      await app.close();
    }
  });
});

describe("proxy headers that cannot be trusted as they are", () => {
  test("X-Forwarded-Proto is compared without case: HTTPS gets the Secure cookie and HSTS", async () => {
    const app = await buildApp({ ...DEFAULT_CONFIG, trustProxy: ["127.0.0.1"], logLevel: "silent" });
    try {
      const browser = createTestClient(app, { "x-forwarded-proto": "HTTPS" });
      const signup = await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
      assert.match(signup.setCookies[0] ?? "", /^__Host-lk=.*; Secure; SameSite=Lax$/);
      assert.equal(signup.headers["strict-transport-security"], "max-age=31536000");
    } finally {
      await app.close();
    }
  });

  test("a forwarded value that is no IP is not the client IP: the socket's is stored instead", async () => {
    const app = await buildApp({ ...DEFAULT_CONFIG, trustProxy: 1, logLevel: "silent" });
    try {
      const junk = `<b>${"x".repeat(12_000)}`;
      const browser = createTestClient(app, { "x-forwarded-for": junk });
      await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
      const page = (await browser.get("/sessions")).body;
      assert.doesNotMatch(page, /xxxxxxxxxx/);
      assert.match(page, /<dd>127\.0\.0\.1<\/dd>/, "inject's socket address");
    } finally {
      await app.close();
    }
  });

  test("IPv6 clients are throttled by their /64: rotating the rest of the address does not help", async () => {
    const app = await buildApp(
      { ...DEFAULT_CONFIG, logLevel: "silent" },
      { throttle: { maxPerAccount: 100, maxPerIP: 3, windowSeconds: 60 } },
    );
    try {
      const login = (ip: string) =>
        app.inject({
          method: "POST",
          url: "/login",
          remoteAddress: ip,
          headers: { "content-type": "application/x-www-form-urlencoded" },
          payload: new URLSearchParams({ username: uniqueName(), password: PASSWORD }).toString(),
        });
      for (let i = 1; i <= 3; i++) assert.equal((await login(`2001:db8:5:6::${i}`)).statusCode, 401);
      assert.equal((await login("2001:db8:5:6:ffff::99")).statusCode, 429, "same /64");
      assert.equal((await login("2001:db8:5:7::1")).statusCode, 401, "another /64 is another client");
    } finally {
      await app.close();
    }
  });
});

describe("sign-up throttle per IP", () => {
  test("too many sign-ups from one IP are refused with 429, other IPs still sign up", async () => {
    const app = await buildApp(
      { ...DEFAULT_CONFIG, logLevel: "silent" },
      { throttle: { maxSignupsPerIP: 2, windowSeconds: 60 } },
    );
    try {
      const signup = (ip: string) =>
        app.inject({
          method: "POST",
          url: "/signup",
          remoteAddress: ip,
          headers: { "content-type": "application/x-www-form-urlencoded" },
          payload: new URLSearchParams({ username: uniqueName(), password: PASSWORD }).toString(),
        });
      for (let i = 0; i < 2; i++) assert.equal((await signup("198.51.100.20")).statusCode, 303);
      const blocked = await signup("198.51.100.20");
      assert.equal(blocked.statusCode, 429);
      assert.equal(blocked.headers["retry-after"], "60");
      assert.match(blocked.body, /Too many sign-ups/);
      assert.equal((await signup("198.51.100.21")).statusCode, 303);
    } finally {
      await app.close();
    }
  });
});
