import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clientIP, isHTTPS, resolveTrustProxy } from "./forwarded.js";

describe("proxy headers", () => {
  test("trustProxy: false/undefined is 0 hops, true is 1, a small whole number is itself; the rest is refused", () => {
    assert.equal(resolveTrustProxy(undefined), 0);
    assert.equal(resolveTrustProxy(false), 0);
    assert.equal(resolveTrustProxy(true), 1);
    assert.equal(resolveTrustProxy(2), 2);
    for (const bad of [-1, 1.5, 17, "true", "10.0.0.0/8", null]) {
      assert.throws(() => resolveTrustProxy(bad), /option "trustProxy"/, String(bad));
    }
  });

  test("X-Forwarded-Proto counts only from a trusted proxy, compared without case", () => {
    assert.equal(isHTTPS(false, "https", 0), false, "untrusted: the socket decides");
    assert.equal(isHTTPS(true, "http", 0), true);
    assert.equal(isHTTPS(false, "https", 1), true);
    assert.equal(isHTTPS(false, "HTTPS", 1), true);
    assert.equal(isHTTPS(false, "http", 1), false);
    assert.equal(isHTTPS(false, undefined, 1), false, "no header: the socket decides");
    // A client's own value first, the proxy's appended last: the proxy's counts.
    assert.equal(isHTTPS(false, "https, http", 1), false);
    assert.equal(isHTTPS(false, "http, https", 1), true);
  });

  test("X-Forwarded-For: the address the outermost trusted proxy saw, when it is a valid IP", () => {
    assert.equal(clientIP("10.0.0.1", "203.0.113.9", 0), "10.0.0.1", "untrusted: the socket's");
    assert.equal(clientIP("10.0.0.1", "203.0.113.9", 1), "203.0.113.9");
    assert.equal(
      clientIP("10.0.0.1", "6.6.6.6, 203.0.113.9", 1),
      "203.0.113.9",
      "a client cannot choose its IP",
    );
    assert.equal(clientIP("10.0.0.1", "203.0.113.9, 10.0.0.2", 2), "203.0.113.9");
    assert.equal(clientIP("10.0.0.1", "2001:db8::1", 1), "2001:db8::1");
    assert.equal(clientIP("10.0.0.1", "x".repeat(12_000), 1), "10.0.0.1", "junk falls back to the socket");
    assert.equal(clientIP("10.0.0.1", "not-an-ip", 1), "10.0.0.1");
    assert.equal(clientIP("10.0.0.1", "fe80::1%<script>", 1), "10.0.0.1", "an IPv6 zone is free text");
    assert.equal(clientIP("10.0.0.1", undefined, 1), "10.0.0.1");
    assert.equal(clientIP("10.0.0.1", "203.0.113.9", 3), "10.0.0.1", "fewer entries than trusted hops");
    assert.equal(clientIP(undefined, undefined, 0), "");
  });
});
