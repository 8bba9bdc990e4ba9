/**
 * The login throttle on memory counters (the Redis counters keep the same rules, proven by
 * throttle/redis-counters.test.ts); the same attacks over HTTP are in login-attacks.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { userTagOf } from "latchkey";
import { keySlot } from "../src/stores/redis/key-slot.js";
import { createLoginThrottle, type LoginThrottleOptions } from "./login-throttle.js";
import type { ThrottleCounters } from "./throttle/counters.js";
import { createMemoryCounters } from "./throttle/memory-counters.js";
import { DEFAULT_KEY_PREFIX } from "./throttle/redis-counters.js";

const OWNER_HOME = "198.51.100.1";
const ATTACKER = "203.0.113.66";

function throttleOn(
  options: LoginThrottleOptions = {},
  store = createMemoryCounters({ sweepIntervalMs: 0 }),
) {
  return { store, throttle: createLoginThrottle(store, options) };
}

describe("login throttle", () => {
  test("reserve before the hash: of 40 concurrent attempts exactly the limit is admitted", async () => {
    const { store, throttle } = throttleOn();
    const waits = await Promise.all(
      Array.from({ length: 40 }, () => throttle.reserveLogin("victim", ATTACKER)),
    );
    assert.equal(waits.filter((wait) => wait === 0).length, 5);
    assert.deepEqual(waits.slice(0, 5), [0, 0, 0, 0, 0], "the first five, in order");
    assert.ok(waits.slice(5).every((wait) => wait === 900));
    await store.close();
  });

  test("the account-and-client limit locks only that client out of that account", async () => {
    const { store, throttle } = throttleOn();
    for (let i = 0; i < 5; i++) assert.equal(await throttle.reserveLogin("victim", ATTACKER), 0);
    assert.equal(await throttle.reserveLogin("victim", ATTACKER), 900);
    assert.equal(await throttle.reserveLogin("victim", OWNER_HOME), 0, "the owner elsewhere is not locked");
    assert.equal(await throttle.reserveLogin("someone-else", ATTACKER), 0, "other accounts are not");
    await store.close();
  });

  test("a success clears the account-and-client count and takes back only its own attempt per client", async () => {
    const { store, throttle } = throttleOn({ maxPerAccountClient: 10, maxPerIP: 6 });
    for (let i = 0; i < 3; i++) assert.equal(await throttle.reserveLogin("owner", OWNER_HOME), 0);
    await throttle.loginSucceeded("owner", OWNER_HOME); // two failures and this success: 2 per client
    for (let i = 0; i < 4; i++) assert.equal(await throttle.reserveLogin("owner", OWNER_HOME), 0);
    assert.equal(await throttle.reserveLogin("owner", OWNER_HOME), 900, "2 + 5 failures > maxPerIP 6");
    await store.close();
  });

  test("many people behind one address log in as often as they like: successes do not use up the limit", async () => {
    const { store, throttle } = throttleOn({ maxPerIP: 3 });
    const office = "192.0.2.10";
    for (let i = 0; i < 50; i++) {
      const user = `colleague-${i}`;
      assert.equal(await throttle.reserveLogin(user, office), 0, `login ${i} is admitted`);
      await throttle.loginSucceeded(user, office);
    }
    // Failures still count: three wrong guesses from the office, and the fourth attempt waits.
    for (let i = 0; i < 3; i++) assert.equal(await throttle.reserveLogin(`guess-${i}`, office), 0);
    assert.equal(await throttle.reserveLogin("guess-3", office), 900);
    await store.close();
  });

  test("names that can be no account count per client only", async () => {
    const { store, throttle } = throttleOn({ maxPerIP: 2 });
    assert.equal(await throttle.reserveLogin(null, ATTACKER), 0);
    assert.equal(await throttle.reserveLogin(null, ATTACKER), 0);
    assert.equal(await throttle.reserveLogin(null, ATTACKER), 900);
    assert.equal(await throttle.reserveLogin(null, OWNER_HOME), 0);
    await store.close();
  });

  test("refused attempts create no per-account state: a flood of distinct usernames from one client writes one counter", async () => {
    const { store, throttle } = throttleOn({ maxPerIP: 20 });
    const waits: number[] = [];
    for (let i = 0; i < 500; i++) waits.push(await throttle.reserveLogin(`name-${i}`, ATTACKER));
    assert.equal(waits.filter((wait) => wait === 0).length, 20, "the client's limit admits 20");
    // The client's counter, and the account-and-client and account-wide counters of the 20 admitted
    // names: nothing for the 480 refused ones (before, every refused name left a counter).
    assert.equal(store.size(), 1 + 20 * 2);
    assert.ok(!store.has(`{${userTagOf("name-499")}}login:account:name-499:client:${ATTACKER}`));
    // The refused flood costs the owner nothing elsewhere.
    assert.equal(await throttle.reserveLogin("name-499", OWNER_HOME), 0);
    await store.close();
  });

  test("past the account-wide limit the account is slowed to one attempt per interval, not locked", async () => {
    const { store, throttle } = throttleOn({ maxPerAccount: 6, slowIntervalSeconds: 30 });
    await throttle.reserveLogin("owner", OWNER_HOME);
    await throttle.loginSucceeded("owner", OWNER_HOME);
    // Guessers at three addresses, each under its own limit: 9 attempts in all.
    const guesses: number[] = [];
    for (const ip of ["192.0.2.1", "192.0.2.2", "192.0.2.3"]) {
      for (let i = 0; i < 3; i++) guesses.push(await throttle.reserveLogin("owner", ip));
    }
    // The owner's success was taken back: guesses 1 to 6 pass, the 7th takes the interval's one slot,
    // then 429 for 30 s.
    assert.deepEqual(guesses, [0, 0, 0, 0, 0, 0, 0, 30, 30]);
    assert.equal(await throttle.reserveLogin("owner", "192.0.2.9"), 30, "a new address is slowed too");
    assert.equal(await throttle.reserveLogin("owner", OWNER_HOME), 0, "the owner's usual address is not");
    await store.close();
  });

  test("when the counters cannot count, the reservation throws: it never admits unchecked", async () => {
    const { store, throttle } = throttleOn({}, createMemoryCounters({ maxCounters: 2, sweepIntervalMs: 0 }));
    assert.equal(await throttle.reserveLogin(null, "192.0.2.1"), 0);
    assert.equal(await throttle.reserveLogin(null, "192.0.2.2"), 0);
    await assert.rejects(throttle.reserveLogin("victim", OWNER_HOME), { code: "STORE_FULL" });
    await assert.rejects(throttle.admitSignup("192.0.2.3"), { code: "STORE_FULL" });
    await store.close();
  });

  test("sign-ups: at most maxSignupsPerIP per client per window", async () => {
    const { store, throttle } = throttleOn({ maxSignupsPerIP: 2, windowSeconds: 60 });
    assert.deepEqual(
      [
        await throttle.admitSignup(ATTACKER),
        await throttle.admitSignup(ATTACKER),
        await throttle.admitSignup(ATTACKER),
      ],
      [0, 0, 60],
    );
    assert.equal(await throttle.admitSignup(OWNER_HOME), 0);
    await store.close();
  });

  test("a login's counters touch two Cluster slots: the client's, and the user's (where its sessions live)", async () => {
    const store = createMemoryCounters({ sweepIntervalMs: 0 });
    const touched: string[] = [];
    // Memory counters, with every key they are asked for written down (as the Redis counters would key
    // them: their prefix has no braces, so it does not change a key's hash tag).
    const counters = new Proxy(store, {
      get(target, name, receiver) {
        const member = Reflect.get(target, name, receiver);
        if (typeof member !== "function") return member;
        return (key: string, ...rest: unknown[]) => {
          touched.push(key);
          return member.call(target, key, ...rest);
        };
      },
    }) as ThrottleCounters;
    const throttle = createLoginThrottle(counters, { maxPerAccount: 0 });
    // Past maxPerAccount (0), so the attempt goes through every counter, the slowing one included.
    assert.equal(await throttle.reserveLogin("owner", OWNER_HOME), 0, "the first in its slow interval");
    assert.ok(touched.some((key) => key.includes("login:slow:")));
    await throttle.loginSucceeded("owner", OWNER_HOME);
    assert.equal(await throttle.reserveLogin("owner", OWNER_HOME), 0, "a known client");
    const slots = new Set(touched.map((key) => keySlot(DEFAULT_KEY_PREFIX + key)));
    const userSlot = keySlot(`{${userTagOf("owner")}}`);
    const clientSlot = keySlot(`${DEFAULT_KEY_PREFIX}login:client:${OWNER_HOME}`);
    assert.deepEqual([...slots].sort(), [clientSlot, userSlot].sort(), touched.join(", "));
    await store.close();
  });
});
