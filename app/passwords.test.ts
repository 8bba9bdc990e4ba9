import assert from "node:assert/strict";
import { test } from "node:test";
import { createPasswordHasher } from "./passwords.js";

const hasher = createPasswordHasher({ N: 1024, r: 8, p: 1 });

test("hash and verify, with a random salt and the cost stored with the hash", async () => {
  const a = await hasher.hash("correct horse");
  const b = await hasher.hash("correct horse");
  assert.match(a, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(a, b);
  assert.equal(await hasher.verify("correct horse", a), true);
  assert.equal(await hasher.verify("correct horsE", a), false);
  assert.equal(await hasher.verify("", a), false);
});

test("a hash made with another cost still verifies", async () => {
  const stronger = await createPasswordHasher({ N: 2048, r: 8, p: 1 }).hash("pw-pw-pw-pw");
  assert.equal(await hasher.verify("pw-pw-pw-pw", stronger), true);
});

test("the default cost is N=2^15, r=8, p=1", async () => {
  assert.match(await createPasswordHasher().hash("x"), /^scrypt\$32768\$8\$1\$/);
});

test("malformed or absurdly expensive stored hashes are refused without work", async () => {
  const good = await hasher.hash("pw");
  const parts = good.split("$");
  const variants = [
    "",
    "bcrypt$whatever",
    parts.slice(0, 5).join("$"),
    ["scrypt", 2 ** 30, 8, 1, parts[4], parts[5]].join("$"),
    ["scrypt", 1000, 8, 1, parts[4], parts[5]].join("$"),
    ["scrypt", 1024, 1.5, 1, parts[4], parts[5]].join("$"),
    ["scrypt", 1024, 8, 99, parts[4], parts[5]].join("$"),
    ["scrypt", 1024, 8, 1, "", parts[5]].join("$"),
    ["scrypt", 1024, 8, 1, parts[4], "c2hvcnQ="].join("$"),
  ];
  for (const stored of variants) assert.equal(await hasher.verify("pw", stored), false, stored);
});

test("verifyNothing is false and does the work of a verification", async () => {
  const slow = createPasswordHasher({ N: 16384, r: 8, p: 1 });
  await slow.verifyNothing("warm-up");
  const start = performance.now();
  assert.equal(await slow.verifyNothing("anything"), false);
  assert.ok(performance.now() - start > 5, "it derives a key");
});
