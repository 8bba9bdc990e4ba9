/**
 * Attacks on the login and sign-up throttles, through the real app over inject() on the memory store
 * (issue 10, items 5 and 6): a concurrent burst, lockouts of the owner, hashing that queues everyone
 * behind one client, and an embedded store or memory counters whose bounds are full.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { createMemoryStore } from "latchkey/memory";
import { type AppDeps, buildApp } from "./app.js";
import { DEFAULT_CONFIG } from "./config.js";
import { createPasswordHasher, type PasswordHasher } from "./passwords.js";
import type { AppStore } from "./store.js";
import { uniqueName } from "./test-client.js";
import { createMemoryCounters } from "./throttle/memory-counters.js";

const PASSWORD = "correct horse battery";
const WRONG = "wrong horse battery";
const OWNER_HOME = "198.51.100.1";
const ATTACKER = "203.0.113.66";

/**
 * The app with `deps`, on `store` (closed afterwards), given to `body`. Without `deps.counters` the
 * app counts in memory counters of its own (a memory store was given).
 */
async function withApp(
  deps: AppDeps,
  body: (app: FastifyInstance) => Promise<void>,
  store: AppStore = createMemoryStore({ sweepIntervalMs: 0 }),
): Promise<void> {
  const app = await buildApp({ ...DEFAULT_CONFIG, logLevel: "silent" }, { ...deps, store });
  try {
    await body(app);
  } finally {
    await app.close();
    await store.close();
    await deps.counters?.close?.();
  }
}

function post(
  app: FastifyInstance,
  url: "/login" | "/signup",
  ip: string,
  username: string,
  password: string,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: "POST",
    url,
    remoteAddress: ip,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ username, password }).toString(),
  });
}

async function signUp(app: FastifyInstance, ip = OWNER_HOME): Promise<string> {
  const username = uniqueName();
  const page = await post(app, "/signup", ip, username, PASSWORD);
  assert.equal(page.statusCode, 303, page.body);
  return username;
}

/** An error page of the app's own: HTML with the status, no stack trace or error text. */
function assertOwnPage(page: LightMyRequestResponse, status: number): void {
  assert.equal(page.statusCode, status, page.body);
  assert.match(String(page.headers["content-type"]), /^text\/html/);
  assert.doesNotMatch(page.body, /STORE_FULL|LatchkeyError|at [\w.]+ \(|node:internal/);
}

const counts = (pages: LightMyRequestResponse[]) =>
  pages.reduce<Record<number, number>>((tally, { statusCode }) => {
    tally[statusCode] = (tally[statusCode] ?? 0) + 1;
    return tally;
  }, {});

describe("login throttle attacks", () => {
  test("40 concurrent guesses for one account: at most the limit is checked, the right password inside is refused", async () => {
    await withApp({}, async (app) => {
      const username = await signUp(app);
      const burst = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          post(app, "/login", ATTACKER, username, i === 37 ? PASSWORD : WRONG),
        ),
      );
      const tally = counts(burst);
      assert.deepEqual(Object.keys(tally).sort(), ["401", "429"], JSON.stringify(tally));
      assert.ok((tally[401] ?? 0) <= 5, `at most 5 passwords checked, got ${tally[401]}`);
      assert.equal(burst[37]?.statusCode, 429, "the right password after the limit is refused");
      for (const page of burst.filter(({ statusCode }) => statusCode === 429)) {
        assert.match(String(page.headers["retry-after"]), /^\d+$/);
      }
      assert.equal((await post(app, "/login", ATTACKER, username, PASSWORD)).statusCode, 429);
    });
  });

  test("an attacker elsewhere cannot lock the owner out at the owner's address", async () => {
    await withApp({}, async (app) => {
      const username = await signUp(app);
      const guesses = [];
      for (let i = 0; i < 10; i++)
        guesses.push((await post(app, "/login", ATTACKER, username, WRONG)).statusCode);
      assert.deepEqual(guesses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
      assert.equal((await post(app, "/login", OWNER_HOME, username, PASSWORD)).statusCode, 303);
      assert.equal((await post(app, "/login", ATTACKER, username, PASSWORD)).statusCode, 429);
    });
  });

  test("guesses from many addresses only slow the account (429 + a short Retry-After), the owner's address logs in", async () => {
    const throttle = { maxPerAccount: 10, slowIntervalSeconds: 30 };
    await withApp({ throttle }, async (app) => {
      const username = await signUp(app);
      const guesses: number[] = [];
      for (let n = 1; n <= 4; n++) {
        for (let i = 0; i < 3; i++)
          guesses.push((await post(app, "/login", `192.0.2.${n}`, username, WRONG)).statusCode);
      }
      // 10 attempts within the account-wide limit, then one per 30 s for the account.
      assert.deepEqual(guesses, [...Array(11).fill(401), 429]);
      const newAddress = await post(app, "/login", "192.0.2.99", username, PASSWORD);
      assert.equal(newAddress.statusCode, 429);
      assert.equal(newAddress.headers["retry-after"], "30", "slowed, not locked for the window");
      assert.match(newAddress.body, /Please wait 30 seconds/);
      assert.equal((await post(app, "/login", OWNER_HOME, username, PASSWORD)).statusCode, 303);
    });
  });

  test("another user's login is not queued behind a 40-request burst from one client", async () => {
    const BURST_PASSWORD = "burst password";
    const real = createPasswordHasher({ N: 2 ** 10, r: 8, p: 1 });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let inFlight = 0;
    let inFlightWhenOwnerChecked: number | undefined;
    // The burst's checks wait on the gate, as they would in a saturated thread pool; the owner's runs.
    const checked = async <T>(password: string, check: () => Promise<T>): Promise<T> => {
      if (password !== BURST_PASSWORD) {
        inFlightWhenOwnerChecked = inFlight;
        return check();
      }
      inFlight += 1;
      try {
        await gate;
        return await check();
      } finally {
        inFlight -= 1;
      }
    };
    const passwords: PasswordHasher = {
      hash: real.hash,
      verify: (password, stored) => checked(password, () => real.verify(password, stored)),
      verifyNothing: (password) => checked(password, () => real.verifyNothing(password)),
    };
    await withApp({ passwords, throttle: { maxPerIP: 1000 } }, async (app) => {
      const username = await signUp(app);
      const pending = Array.from({ length: 40 }, () =>
        post(app, "/login", ATTACKER, uniqueName(), BURST_PASSWORD),
      );
      try {
        // Wait until every burst request is either at its check or answered.
        const answered = new Map<number, LightMyRequestResponse>();
        for (const [i, page] of pending.entries()) void page.then((response) => answered.set(i, response));
        for (let turn = 0; turn < 10_000 && inFlight + answered.size < 40; turn++) {
          await new Promise((resolve) => setImmediate(resolve));
        }
        assert.equal(inFlight + answered.size, 40, "every burst request reached its check or an answer");
        const owner = await post(app, "/login", OWNER_HOME, username, PASSWORD);
        assert.equal(owner.statusCode, 303);
        assert.ok(
          (inFlightWhenOwnerChecked ?? 99) <= 2,
          `the owner's check started behind ${inFlightWhenOwnerChecked} of the burst's (at most 2 per client)`,
        );
        assert.equal(answered.size, 38, "refused at once, while two of the burst's checks run");
        for (const page of answered.values()) {
          assert.equal(page.statusCode, 429);
          assert.equal(page.headers["retry-after"], "1");
        }
      } finally {
        release();
      }
      assert.deepEqual(counts(await Promise.all(pending)), { 401: 2, 429: 38 });
    });
  });
});

describe("throttles on a full embedded store or full memory counters", () => {
  test("records full: a wrong guess is still counted (401, then 429), never a 500; the right password is refused", async () => {
    const store = createMemoryStore({ maxRecords: 1, sweepIntervalMs: 0 });
    await withApp(
      {},
      async (app) => {
        const username = await signUp(app);
        const guesses = [];
        for (let i = 0; i < 6; i++)
          guesses.push((await post(app, "/login", ATTACKER, username, WRONG)).statusCode);
        assert.deepEqual(guesses, [401, 401, 401, 401, 401, 429]);
        assert.equal((await post(app, "/login", ATTACKER, username, PASSWORD)).statusCode, 429);
        assertOwnPage(await post(app, "/signup", "192.0.2.50", uniqueName(), PASSWORD), 503);
        assert.equal((await post(app, "/login", OWNER_HOME, username, PASSWORD)).statusCode, 303);
      },
      store,
    );
  });

  test("counters full: a login is refused with 503 and Retry-After, never let through unchecked", async () => {
    const counters = createMemoryCounters({ maxCounters: 4, sweepIntervalMs: 0 });
    await withApp({ counters }, async (app) => {
      const username = await signUp(app); // a sign-up counter and the owner's address remembered
      // Names that can be no account: one counter per address.
      for (const ip of ["192.0.2.1", "192.0.2.2"]) {
        assert.equal((await post(app, "/login", ip, "no such user!", WRONG)).statusCode, 401);
      }
      for (const ip of [ATTACKER, OWNER_HOME]) {
        const page = await post(app, "/login", ip, username, PASSWORD);
        assertOwnPage(page, 503);
        assert.equal(page.headers["retry-after"], "60");
        assert.equal(page.headers["set-cookie"], undefined, "no session was started");
      }
      assertOwnPage(await post(app, "/signup", "192.0.2.3", uniqueName(), PASSWORD), 503);
      assert.equal(counters.size(), 4, "no counter was evicted to make room");
    });
  });

  test("a full store is logged once, not on every request it refuses", async () => {
    const counters = createMemoryCounters({ maxCounters: 1, sweepIntervalMs: 0 });
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const lines: { level: number; msg: string }[] = [];
    const app = await buildApp(
      { ...DEFAULT_CONFIG, logLevel: "info" },
      { store, counters, logStream: { write: (line: string) => void lines.push(JSON.parse(line)) } },
    );
    try {
      for (let i = 1; i <= 10; i++) {
        assertOwnPage(await post(app, "/login", `192.0.2.${i}`, "no such user!", WRONG), i === 1 ? 401 : 503);
      }
      const full = lines.filter((line) => /session store full/.test(line.msg) && line.level >= 40);
      assert.equal(full.length, 1, JSON.stringify(full));
    } finally {
      await app.close();
      await store.close();
      await counters.close();
    }
  });

  test("sign-ups from many addresses do not reset a victim's lockout", async () => {
    const store = createMemoryStore({ maxRecords: 20, sweepIntervalMs: 0 });
    const counters = createMemoryCounters({ maxCounters: 20, sweepIntervalMs: 0 });
    await withApp(
      { counters },
      async (app) => {
        const username = await signUp(app);
        for (let i = 0; i < 6; i++) await post(app, "/login", ATTACKER, username, WRONG);
        assert.equal((await post(app, "/login", ATTACKER, username, PASSWORD)).statusCode, 429);
        const stillLocked = async (after: string) =>
          assert.equal((await post(app, "/login", ATTACKER, username, PASSWORD)).statusCode, 429, after);
        // Invalid sign-ups from 40 addresses: counted, each would be a fresh counter pushing out older ones.
        const invalid = [];
        for (let i = 1; i <= 40; i++)
          invalid.push(await post(app, "/signup", `10.0.1.${i}`, uniqueName(), "short"));
        assert.deepEqual(counts(invalid), { 400: 40 });
        await stillLocked("after 40 invalid sign-ups");
        // Valid ones from 40 more: accounts and counters up to their bounds, then 503 pages.
        for (let i = 1; i <= 40; i++) {
          const page = await post(app, "/signup", `10.0.2.${i}`, uniqueName(), PASSWORD);
          if (page.statusCode !== 303) assertOwnPage(page, 503);
        }
        await stillLocked("after 40 valid sign-ups");
      },
      store,
    );
  });

  test("sign-up validates before it counts: invalid attempts do not use up the limit", async () => {
    await withApp({ throttle: { maxSignupsPerIP: 3 } }, async (app) => {
      for (let i = 0; i < 5; i++) {
        assert.equal((await post(app, "/signup", ATTACKER, "x", PASSWORD)).statusCode, 400);
      }
      for (let i = 0; i < 3; i++) await signUp(app, ATTACKER);
      assert.equal((await post(app, "/signup", ATTACKER, uniqueName(), PASSWORD)).statusCode, 429);
    });
  });
});
