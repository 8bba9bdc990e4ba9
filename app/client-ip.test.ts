import assert from "node:assert/strict";
import { test } from "node:test";
import { throttleKeyOf } from "./client-ip.js";

test("throttles count IPv4 addresses one by one and IPv6 clients by their /64", () => {
  assert.equal(throttleKeyOf("203.0.113.9"), "203.0.113.9");
  assert.equal(throttleKeyOf("::ffff:203.0.113.9"), "203.0.113.9");
  assert.equal(throttleKeyOf("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(throttleKeyOf("2001:0db8:0001:0002:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64", "same /64");
  assert.equal(throttleKeyOf("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(throttleKeyOf("::1"), "0:0:0:0::/64");
  assert.equal(throttleKeyOf("64:ff9b::192.0.2.33"), "64:ff9b:0:0::/64");
  assert.notEqual(throttleKeyOf("2001:db8:1:2::1"), throttleKeyOf("2001:db8:1:3::1"));
});
