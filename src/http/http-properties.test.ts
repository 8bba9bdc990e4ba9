import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { generateToken } from "../core/token.js";
import { readCookie, resolveCookieSettings, serializeCookie } from "./cookie.js";
import { createCrossOriginCheck } from "./cross-origin.js";
import { clientIP, isHTTPS } from "./forwarded.js";

/**
 * Property-based checks of the code that reads what a client sends: whatever the input, an answer of
 * the promised shape, never an exception. fast-check shrinks any counterexample to a small one.
 */

/** Header text as hostile clients send it: any characters, with the separators that matter often. */
const headerText = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: fc.constantFrom(";", "=", " ", ",", "l", "k", "a", "\u0000", "é"), maxLength: 80 }),
);
const headerValue = fc.oneof(fc.constant(undefined), headerText, fc.array(headerText, { maxLength: 4 }));

describe("properties of the HTTP layer", () => {
  test("readCookie: any header gives undefined or a value of at most 256 characters", () => {
    fc.assert(
      fc.property(headerValue, fc.constantFrom("lk", "__Host-lk"), (header, name) => {
        const value = readCookie(header, name);
        assert.ok(value === undefined || (typeof value === "string" && value.length <= 256));
      }),
      { numRuns: 2000 },
    );
  });

  test("readCookie: the session cookie is found among any other cookies, and never when given twice", () => {
    const otherCookie = fc
      .tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.stringMatching(/^[A-Za-z0-9_.-]{0,20}$/))
      .filter(([name]) => name !== "lk")
      .map(([name, value]) => `${name}=${value}`);
    fc.assert(
      fc.property(fc.array(otherCookie, { maxLength: 6 }), fc.nat(6), fc.boolean(), (others, at, twice) => {
        const token = generateToken();
        const cookies = [...others];
        cookies.splice(Math.min(at, cookies.length), 0, `lk=${token}`);
        if (twice) cookies.push(`lk=${generateToken()}`);
        assert.equal(readCookie(cookies.join("; "), "lk"), twice ? undefined : token);
      }),
    );
  });

  test("the cross-origin decision answers a boolean for any headers, and same-origin always passes", () => {
    const check = createCrossOriginCheck({ trustedOrigins: ["https://admin.example"] });
    fc.assert(
      fc.property(headerValue, headerValue, headerValue, (host, origin, site) => {
        const decision = check({
          host: typeof host === "string" ? host : undefined,
          origin,
          secFetchSite: site,
        });
        assert.equal(typeof decision, "boolean");
        assert.equal(
          check({ host: typeof host === "string" ? host : undefined, origin, secFetchSite: "same-origin" }),
          false,
        );
      }),
      { numRuns: 2000 },
    );
  });

  test("a cross-site Sec-Fetch-Site is refused for any untrusted Origin", () => {
    const check = createCrossOriginCheck({ trustedOrigins: ["https://admin.example"] });
    fc.assert(
      fc.property(fc.oneof(fc.webUrl(), fc.string()), (origin) => {
        fc.pre(origin !== "https://admin.example");
        assert.equal(check({ host: "app.example", origin, secFetchSite: "cross-site" }), true);
      }),
    );
  });

  test("proxy headers: any X-Forwarded-For gives the socket's address or a valid IP from the header", () => {
    fc.assert(
      fc.property(headerValue, fc.nat(4), (forwarded, hops) => {
        const ip = clientIP("10.0.0.1", forwarded, hops);
        assert.ok(ip === "10.0.0.1" || (ip.length <= 45 && /^[0-9a-fA-F:.]+$/.test(ip)), ip);
        assert.equal(typeof isHTTPS(false, forwarded, hops), "boolean");
      }),
      { numRuns: 2000 },
    );
  });

  test("cookie settings: any options object gives settings or an InvalidOptionError, nothing else", () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            cookieName: fc.anything(),
            secure: fc.anything(),
            sameSite: fc.anything(),
            cookiePath: fc.oneof(fc.string(), fc.anything()),
            cookieDomain: fc.oneof(fc.domain(), fc.string(), fc.anything()),
            partitioned: fc.anything(),
          },
          { requiredKeys: [] },
        ),
        (options) => {
          try {
            const settings = resolveCookieSettings(options as never);
            assert.ok(["lax", "strict", "none"].includes(settings.sameSite));
            // Whatever was accepted cannot add an attribute or break out of the Set-Cookie value.
            const header = serializeCookie("lk", "t", { ...settings, secure: true, maxAgeSeconds: 1 });
            const parts = 6 + (settings.domain === undefined ? 0 : 1) + (settings.partitioned ? 1 : 0);
            assert.equal(header.split(";").length, parts, header);
            assert.ok(/^[!-~]+(; [!-~]+)+$/.test(header), `only printable ASCII between "; ": ${header}`);
          } catch (error) {
            assert.equal((error as { code?: string }).code, "INVALID_OPTION", String(error));
          }
        },
      ),
    );
  });
});
