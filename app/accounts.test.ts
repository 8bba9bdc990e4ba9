import assert from "node:assert/strict";
import { test } from "node:test";
import { createMemoryStore } from "latchkey/memory";
import { createAccounts, passwordProblem, usernameProblem } from "./accounts.js";
import { createPasswordHasher, type PasswordHasher } from "./passwords.js";

function spyHasher(): { hasher: PasswordHasher; calls: string[] } {
  const inner = createPasswordHasher({ N: 1024, r: 8, p: 1 });
  const calls: string[] = [];
  return {
    calls,
    hasher: {
      hash(password) {
        calls.push("hash");
        return inner.hash(password);
      },
      verify(password, stored) {
        calls.push("verify");
        return inner.verify(password, stored);
      },
      verifyNothing(password) {
        calls.push("verifyNothing");
        return inner.verifyNothing(password);
      },
    },
  };
}

test("usernames: 3-32 of letters, digits, dot, underscore, hyphen", () => {
  for (const ok of ["ada", "Ada.Lovelace_1815-x", "a".repeat(32)])
    assert.equal(usernameProblem(ok), null, ok);
  for (const bad of ["ad", "a".repeat(33), "ada lovelace", "ada@home", "ädä", "", "<b>"]) {
    assert.notEqual(usernameProblem(bad), null, bad);
  }
  assert.equal(passwordProblem("1234567"), "Passwords need at least 8 characters.");
  assert.equal(passwordProblem("12345678"), null);
  assert.notEqual(passwordProblem("x".repeat(257)), null);
});

test("register is case-insensitive and never stores the password", async () => {
  const store = createMemoryStore();
  const { hasher } = spyHasher();
  const accounts = createAccounts(store.records, hasher);
  assert.deepEqual(await accounts.register("Ada", "password-1"), { userId: "ada", username: "Ada" });
  assert.equal(await accounts.register("ADA", "password-2"), null);
  const record = await store.records.get("account:ada");
  assert.equal(record?.username, "Ada");
  assert.ok(!JSON.stringify(record).includes("password-1"));
  assert.deepEqual(await accounts.authenticate("aDa", "password-1"), {
    account: { userId: "ada", username: "Ada" },
  });
  await store.close();
});

test("unknown and malformed usernames still pay for a password hash", async () => {
  const store = createMemoryStore();
  const { hasher, calls } = spyHasher();
  const accounts = createAccounts(store.records, hasher);
  await accounts.register("grace", "password-1");
  calls.length = 0;
  assert.deepEqual(await accounts.authenticate("grace", "wrong-password"), {
    account: null,
    knownAccount: true,
  });
  assert.deepEqual((await accounts.authenticate("nobody", "password-1")).account, null);
  assert.deepEqual((await accounts.authenticate("not a name!", "password-1")).account, null);
  assert.deepEqual((await accounts.authenticate("grace", "x".repeat(10_000))).account, null);
  assert.deepEqual(calls, ["verify", "verifyNothing", "verifyNothing", "verifyNothing"]);
  await store.close();
});
