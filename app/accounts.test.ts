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
    credential: record?.passwordHash,
  });
  await store.close();
});

test("password change: only with the current password, one of two concurrent changes wins, the credential moves on", async () => {
  const store = createMemoryStore();
  const { hasher } = spyHasher();
  const accounts = createAccounts(store.records, hasher);
  await accounts.register("ada", "password-1");
  const signedIn = await accounts.authenticate("ada", "password-1");
  assert.ok(signedIn.account);
  assert.equal(await accounts.isCurrent("ada", signedIn.credential), true);
  assert.equal(await accounts.changePassword("ada", "wrong-password", "password-x"), "wrong-password");
  assert.equal(
    await accounts.isCurrent("ada", signedIn.credential),
    true,
    "a wrong password changes nothing",
  );
  const outcomes = await Promise.all([
    accounts.changePassword("ada", "password-1", "password-2"),
    accounts.changePassword("ada", "password-1", "password-3"),
  ]);
  assert.deepEqual(outcomes.slice().sort(), ["done", "wrong-password"], "exactly one change wins");
  const winner = outcomes[0] === "done" ? "password-2" : "password-3";
  assert.equal(await accounts.isCurrent("ada", signedIn.credential), false, "the old credential is stale");
  assert.equal((await accounts.authenticate("ada", "password-1")).account, null);
  assert.ok((await accounts.authenticate("ada", winner)).account);
  assert.equal(await accounts.changePassword("nobody", "password-1", "password-2"), "gone");
  await store.close();
});

test("remove: only with the current password; the name is free again", async () => {
  const store = createMemoryStore();
  const { hasher } = spyHasher();
  const accounts = createAccounts(store.records, hasher);
  await accounts.register("grace", "password-1");
  assert.equal(await accounts.remove("grace", "wrong-password"), "wrong-password");
  assert.ok(await store.records.get("account:grace"));
  assert.equal(await accounts.remove("grace", "password-1"), "done");
  assert.equal(await store.records.get("account:grace"), null);
  assert.equal(await accounts.remove("grace", "password-1"), "gone");
  assert.ok(await accounts.register("Grace", "password-2"), "the name can be signed up again");
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
