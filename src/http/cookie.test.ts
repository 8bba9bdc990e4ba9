import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readCookie, resolveCookieSettings, serializeCookie } from "./cookie.js";

describe("session cookie", () => {
  test("settings: defaults, and each bad value refused at construction, naming the option", () => {
    assert.deepEqual(resolveCookieSettings({}), { name: "lk", secure: "auto", sameSite: "lax" });
    assert.deepEqual(resolveCookieSettings({ cookieName: "sid", secure: true, sameSite: "none" }), {
      name: "sid",
      secure: true,
      sameSite: "none",
    });
    const bad: [object, RegExp][] = [
      [{ cookieName: "a b" }, /option "cookieName"/],
      [{ cookieName: "__Secure-lk" }, /option "cookieName".*prefix/],
      [{ secure: "yes" }, /option "secure"/],
      [{ sameSite: "Lax" }, /option "sameSite"/],
      [{ sameSite: "none" }, /option "sameSite".*secure: true/],
      [{ sameSite: "none", secure: "auto" }, /option "sameSite"/],
    ];
    for (const [options, message] of bad) assert.throws(() => resolveCookieSettings(options), message);
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
  });
});
