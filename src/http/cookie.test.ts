import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cookieNameFor, readCookie, resolveCookieSettings, serializeCookie } from "./cookie.js";

describe("session cookie", () => {
  test("settings: defaults, and each bad value refused at construction, naming the option", () => {
    const defaults = { path: "/", domain: undefined, partitioned: false };
    assert.deepEqual(resolveCookieSettings({}), { name: "lk", secure: "auto", sameSite: "lax", ...defaults });
    assert.deepEqual(resolveCookieSettings({ cookieName: "sid", secure: true, sameSite: "none" }), {
      name: "sid",
      secure: true,
      sameSite: "none",
      ...defaults,
    });
    assert.deepEqual(
      resolveCookieSettings({
        secure: true,
        cookiePath: "/app",
        cookieDomain: ".Example.COM",
        partitioned: true,
      }),
      { name: "lk", secure: true, sameSite: "lax", path: "/app", domain: "example.com", partitioned: true },
    );
    const bad: [object, RegExp][] = [
      [{ cookieName: "a b" }, /option "cookieName"/],
      [{ cookieName: "__Secure-lk" }, /option "cookieName".*prefix/],
      [{ secure: "yes" }, /option "secure"/],
      [{ sameSite: "Lax" }, /option "sameSite"/],
      [{ sameSite: "none" }, /option "sameSite".*secure: true/],
      [{ sameSite: "none", secure: "auto" }, /option "sameSite"/],
      [{ cookiePath: "app" }, /option "cookiePath"/],
      [{ cookiePath: "/a;Domain=evil.com" }, /option "cookiePath"/],
      [{ cookiePath: "/a b" }, /option "cookiePath"/],
      [{ cookieDomain: "localhost" }, /option "cookieDomain".*two or more labels/],
      [{ cookieDomain: "example.com; Secure" }, /option "cookieDomain"/],
      [{ cookieDomain: "-a.example.com" }, /option "cookieDomain"/],
      [{ cookieDomain: "" }, /option "cookieDomain"/],
      [{ partitioned: "yes", secure: true }, /option "partitioned"/],
      [{ partitioned: true }, /option "partitioned".*secure: true/],
    ];
    for (const [options, message] of bad) assert.throws(() => resolveCookieSettings(options), message);
  });

  test("name: __Host- over HTTPS when host-only with Path=/, __Secure- when a Domain or Path rules it out", () => {
    assert.equal(cookieNameFor(resolveCookieSettings({}), true), "__Host-lk");
    assert.equal(cookieNameFor(resolveCookieSettings({}), false), "lk");
    assert.equal(cookieNameFor(resolveCookieSettings({ cookieDomain: "example.com" }), true), "__Secure-lk");
    assert.equal(cookieNameFor(resolveCookieSettings({ cookiePath: "/app" }), true), "__Secure-lk");
    assert.equal(cookieNameFor(resolveCookieSettings({ cookiePath: "/app" }), false), "lk");
  });

  test("read: one value, or nothing when absent, duplicated or oversized", () => {
    assert.equal(readCookie("a=1; lk=tok; b=2", "lk"), "tok");
    assert.equal(readCookie(" lk = tok ", "lk"), "tok");
    assert.equal(readCookie("lk=a; lk=b", "lk"), undefined);
    assert.equal(readCookie(["lk=a", "lk=b"], "lk"), undefined, "a header sent twice is one header");
    assert.equal(readCookie(["x=1", "lk=a"], "lk"), "a");
    assert.equal(readCookie(`lk=${"a".repeat(257)}`, "lk"), undefined);
    assert.equal(readCookie("xlk=a; lkx=b", "lk"), undefined);
    assert.equal(readCookie("", "lk"), undefined);
    assert.equal(readCookie(undefined, "lk"), undefined);
  });

  test("write: HttpOnly, Path=/, SameSite as configured, Secure when asked, Max-Age never negative", () => {
    assert.equal(
      serializeCookie("lk", "t", { secure: false, maxAgeSeconds: 10.4 }),
      "lk=t; Max-Age=10; Path=/; HttpOnly; SameSite=Lax",
    );
    assert.equal(
      serializeCookie("__Host-lk", "t", { secure: true, maxAgeSeconds: -5, sameSite: "strict" }),
      "__Host-lk=t; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict",
    );
    assert.equal(
      serializeCookie("__Secure-lk", "t", {
        secure: true,
        maxAgeSeconds: undefined,
        sameSite: "none",
        path: "/app",
        domain: "example.com",
        partitioned: true,
      }),
      "__Secure-lk=t; Domain=example.com; Path=/app; HttpOnly; Secure; SameSite=None; Partitioned",
    );
    assert.equal(
      serializeCookie("lk", "t", { secure: false, maxAgeSeconds: 1, partitioned: true }),
      "lk=t; Max-Age=1; Path=/; HttpOnly; SameSite=Lax",
      "Partitioned only with Secure",
    );
  });
});
