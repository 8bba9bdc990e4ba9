import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createSessionManager } from "../../src/core/session-manager.js";
import { generateToken, isWellFormedToken, storageIdOf, userTagOf } from "../../src/core/token.js";
import { anonymousTests } from "./anonymous-conformance.js";
import {
  assertNotStored,
  assertStored,
  type ConformanceTarget,
  type Context,
  createContext,
  latchkeyError,
  oneTo,
  SCHEMA,
  storedIdOf,
  type TestClock,
  tracked,
} from "./conformance-context.js";
import { encryptedFieldsTests } from "./encrypted-fields-conformance.js";
import { eventTests } from "./events-conformance.js";
import { expiryTests } from "./expiry-conformance.js";
import { recordTests } from "./records-conformance.js";
import { renewalTests } from "./renewal-conformance.js";
import { revocationTests } from "./revocation-conformance.js";
import { userTests, withoutUserIndexTests } from "./user-conformance.js";

export type { ConformanceTarget } from "./conformance-context.js";

export interface ConformanceOptions {
  /**
   * false for a store configured without a per-user index (`createRedisStore({ userIndex: false })`):
   * the per-user calls must then fail with UNSUPPORTED, and everything else behave the same.
   */
  userIndex?: boolean;
  /**
   * A virtual clock for a store that takes all its time from the manager (the memory store; pass the
   * same clock to the store's factory). The expiry tests then run one after another on it and never
   * sleep. Default: real time, with the expiry tests running concurrently.
   */
  clock?: TestClock;
}

// A bound on the whole suite of one backend (the expiry tests wait about 5 s of real time on Redis).
const TIMEOUT = { timeout: 120_000 };

/**
 * The one behaviour suite for every SessionStore: it registers node:test blocks that drive the store
 * through `createSessionManager`, the public engine, so that memory, Redis and Redis Cluster are held to
 * the same observable contract. Call it once per backend from a `*.test.ts` file.
 *
 * @example
 * runSessionStoreConformance("memory", async () => {
 *   const store = createMemoryStore();
 *   return { store, cleanup: () => store.close() };
 * });
 */
export function runSessionStoreConformance(
  name: string,
  factory: () => Promise<ConformanceTarget>,
  { userIndex = true, clock }: ConformanceOptions = {},
): void {
  describe(`SessionStore conformance: ${name}`, TIMEOUT, () => {
    let context: Context | undefined;
    const ctx = (): Context => {
      assert.ok(context, "the conformance target was not created");
      return context;
    };
    before(async () => {
      context = await createContext(factory, userIndex, clock);
    });
    after(async () => {
      await context?.target.cleanup();
    });

    describe("sessions", () => sessionTests(ctx));
    describe("concurrent updates", () => concurrencyTests(ctx));
    // On a virtual clock one test's sleep moves time for all: they take turns (and take no time).
    describe("expiry", { concurrency: clock === undefined }, () => expiryTests(ctx, { userIndex }));
    describe("per-user sessions", () => (userIndex ? userTests(ctx) : withoutUserIndexTests(ctx)));
    if (userIndex) describe("revocation races and the per-user cap", () => revocationTests(ctx));
    if (userIndex) describe("lifecycle events", () => eventTests(ctx));
    describe("anonymous sessions, promotion and flash", { concurrency: clock === undefined }, () =>
      anonymousTests(ctx, { userIndex }),
    );
    describe("records", { concurrency: true }, () => recordTests(ctx));
    describe("encrypted fields", () => encryptedFieldsTests(ctx, { userIndex }));
    describe("token renewal", () => renewalTests(ctx, { userIndex }));

    describe("storage", () => {
      it("never stores a token, from create or rotate", async (t) => {
        const { target, steady, user, issued } = ctx();
        if (!target.dump) {
          t.skip("missing dependency: a dump of this backend (ConformanceTarget.dump)");
          return;
        }
        const userId = user("dump");
        const { token } = await steady.create(userId, { data: { name: "dump" } });
        const rotated = await steady.rotate(token);
        assert.ok(rotated);
        await steady.create(userId);
        await assertStored(target, userId, "a live session's user id");
        // The suite issues this many tokens before it gets here (fewer without the per-user tests).
        const expected = userIndex ? 30 : 20;
        assert.ok(issued.size >= expected, `only ${issued.size} tokens were issued`);
        await assertNotStored(target, [...issued], "a session token");
      });
    });
  });
}

function sessionTests(ctx: () => Context): void {
  it("answers ping and names its kind", async () => {
    const { store } = ctx().target;
    await store.ping();
    assert.equal(typeof store.kind, "string");
    assert.ok(store.kind.length > 0);
  });

  it("round-trips typed fields and metadata", async () => {
    const { steady, user } = ctx();
    const userId = user("roundtrip");
    const data = {
      name: 'Ada Lovelace ✓ 🙂 "quoted" \n newline',
      visits: 42,
      admin: true,
      prefs: { theme: "dark", tags: ["a", "b"], ratio: 1.5, nested: { empty: null, list: [] } },
    };
    const { token, session } = await steady.create(userId, {
      data,
      userAgent: "Mozilla/5.0 (conformance)",
      ip: "203.0.113.7",
    });
    assert.ok(isWellFormedToken(token));
    assert.equal(session.id, steady.publicIdOf(token));
    assert.equal(session.expiresAt.getTime(), session.createdAt.getTime() + 120_000);

    const loaded = await steady.load(token);
    assert.ok(loaded);
    assert.deepEqual(loaded.data, data);
    assert.equal(loaded.id, session.id);
    assert.equal(loaded.userId, userId);
    assert.equal(loaded.userAgent, "Mozilla/5.0 (conformance)");
    assert.equal(loaded.ip, "203.0.113.7");
    assert.equal(loaded.createdAt.getTime(), session.createdAt.getTime());
    assert.equal(loaded.expiresAt.getTime(), session.expiresAt.getTime());
    assert.ok(loaded.lastSeenAt.getTime() >= session.createdAt.getTime());
  });

  it("round-trips empty and falsy values, and a session without data", async () => {
    const { steady, user } = ctx();
    const falsy = { name: "", visits: 0, admin: false, prefs: [] };
    const { token } = await steady.create(user("falsy"), { data: falsy });
    assert.deepEqual((await steady.load(token))?.data, falsy);

    const bare = await steady.create(user("bare"));
    const loaded = await steady.load(bare.token);
    assert.ok(loaded);
    assert.deepEqual(loaded.data, {});
    assert.equal(loaded.userAgent, "");
    assert.equal(loaded.ip, "");
  });

  it("round-trips any text: quotes, backslashes, control characters, non-ASCII, emoji", async () => {
    const { steady, user } = ctx();
    const name = 'h\u00e9llo \u{1F600} "q" \\ \n\t\u0001 </script> \u2028 /slash';
    const prefs = { list: [1, "\u00fc"], none: null, nested: { quote: '"' } };
    const { token } = await steady.create(user("text"), { data: { name, prefs } });
    const loaded = await steady.load(token, { increment: { visits: 5 } });
    assert.equal(loaded?.data.name, name);
    assert.deepEqual(loaded?.data.prefs, prefs);
    assert.equal(loaded?.data.visits, 5);
  });

  it("sets, unsets and increments fields", async () => {
    const { steady, user } = ctx();
    const { token } = await steady.create(user("fields"), { data: { name: "a", prefs: { x: 1 } } });
    assert.equal(await steady.set(token, { name: "b", admin: false }), true);
    assert.equal(await steady.increment(token, "visits"), 1, "a missing integer field counts from 0");
    assert.equal(await steady.increment(token, "visits", 10), 11);
    assert.equal(await steady.increment(token, "visits", -3), 8);
    assert.deepEqual((await steady.load(token))?.data, {
      name: "b",
      visits: 8,
      admin: false,
      prefs: { x: 1 },
    });
    assert.equal(await steady.unset(token, ["prefs", "admin"]), true);
    assert.deepEqual((await steady.load(token))?.data, { name: "b", visits: 8 });
  });

  it("updates (sets and removes) in one step, and writes nothing of a refused or late update", async () => {
    const { steady, user } = ctx();
    const { token } = await steady.create(user("update"), { data: { name: "a", prefs: { x: 1 } } });
    assert.equal(await steady.update(token, { name: "b", admin: true }, ["prefs"]), true);
    assert.deepEqual((await steady.load(token))?.data, { name: "b", admin: true });
    await assert.rejects(steady.update(token, { name: "c" }, ["name"]), {
      code: "INVALID_ARGUMENT",
    });
    await assert.rejects(steady.update(token, { name: "d", prefs: 10n as never }), {
      code: "INVALID_ARGUMENT",
    });
    assert.deepEqual((await steady.load(token))?.data, { name: "b", admin: true }, "nothing of either");
    await steady.destroy(token);
    assert.equal(await steady.update(token, { name: "e" }), false);
    assert.equal(await steady.load(token), null, "a late update brings nothing back");
  });

  it("answers null or false for malformed, unknown and oversized tokens", async () => {
    const { steady } = ctx();
    const real = (await steady.create(ctx().user("malformed"))).token;
    const flipped = `${real.slice(0, -1)}${real.endsWith("A") ? "B" : "A"}`;
    const tokens = [
      undefined,
      "",
      "x",
      "a".repeat(42),
      "a".repeat(44),
      "!".repeat(43),
      ` ${real.slice(1)}`,
      `${real}\n`,
      "a".repeat(100_000),
      generateToken(),
      flipped,
    ];
    for (const token of tokens) {
      const label = JSON.stringify(token?.slice(0, 50));
      assert.equal(await steady.load(token), null, `load(${label})`);
      if (token === undefined) continue;
      assert.equal(await steady.set(token, { name: "x" }), false, `set(${label})`);
      assert.equal(await steady.unset(token, ["name"]), false, `unset(${label})`);
      assert.equal(await steady.increment(token, "visits"), null, `increment(${label})`);
      assert.equal(await steady.rotate(token), null, `rotate(${label})`);
      assert.equal(await steady.destroy(token), false, `destroy(${label})`);
    }
    assert.ok(await steady.load(real), "the real session is untouched");
  });

  it("rotation kills the old token and keeps data, createdAt and expiresAt", async () => {
    const { steady, user, target, userIndex } = ctx();
    const userId = user("rotate");
    const data = { name: "rotating", visits: 3, admin: true, prefs: { a: [1, 2] } };
    const { token, session } = await steady.create(userId, { data, userAgent: "UA", ip: "198.51.100.1" });
    await sleep(20); // so that a rotation that restarted the clocks would show
    const rotated = await steady.rotate(token);
    assert.ok(rotated);
    assert.ok(isWellFormedToken(rotated.token));
    assert.notEqual(rotated.token, token);
    assert.notEqual(rotated.session.id, session.id);
    assert.equal(rotated.session.id, steady.publicIdOf(rotated.token));

    assert.equal(await steady.load(token), null, "the old token is dead at once");
    assert.equal(await steady.rotate(token), null);
    assert.equal(await steady.set(token, { name: "x" }), false);
    assert.equal(await steady.increment(token, "visits"), null);
    assert.equal(await steady.destroy(token), false);

    const loaded = await steady.load(rotated.token);
    assert.ok(loaded);
    assert.deepEqual(loaded.data, data);
    assert.deepEqual(rotated.session.data, data);
    for (const session_ of [loaded, rotated.session]) {
      assert.equal(session_.userId, userId);
      assert.equal(session_.userAgent, "UA");
      assert.equal(session_.ip, "198.51.100.1");
      assert.equal(session_.createdAt.getTime(), session.createdAt.getTime());
      assert.equal(session_.expiresAt.getTime(), session.expiresAt.getTime());
    }
    assert.equal(await steady.increment(rotated.token, "visits"), 4, "the new token is fully usable");
    if (userIndex) {
      assert.deepEqual(
        (await steady.listForUser(userId)).map((s) => s.id),
        [rotated.session.id],
        "the user's index follows the rotation",
      );
    }
    await assertNotStored(target, storedIdOf(token), "the rotated-away session id");
  });

  it("a write after destroy answers false or null and does not resurrect the session", async () => {
    const { steady, user, target, userIndex } = ctx();
    const userId = user("destroyed");
    const { token } = await steady.create(userId, { data: { visits: 1 } });
    await assertStored(target, storedIdOf(token), "a live session's storage id");
    assert.equal(await steady.destroy(token), true);
    assert.equal(await steady.destroy(token), false);
    assert.equal(await steady.set(token, { name: "ghost" }), false);
    assert.equal(await steady.unset(token, ["visits"]), false);
    assert.equal(await steady.increment(token, "visits"), null);
    assert.equal(await steady.load(token, { increment: { visits: 1 } }), null);
    assert.equal(await steady.rotate(token), null);
    assert.equal(await steady.load(token), null);
    if (userIndex) assert.deepEqual(await steady.listForUser(userId), []);
    await assertNotStored(target, storedIdOf(token), "a destroyed session's id");
  });

  it("rejects an increment of a field that does not hold an integer, and changes nothing", async () => {
    const { target, steady, user, issued } = ctx();
    // An older deploy stored `visits` as text; the current schema says integer.
    const legacy = createSessionManager({
      store: target.store,
      fields: { ...SCHEMA, visits: "string" },
      idleTimeoutSeconds: 60,
      absoluteTimeoutSeconds: 120,
    });
    const created = await legacy.create(user("not-integer"), { data: { visits: "many", name: "n" } });
    issued.add(created.token);
    await assert.rejects(steady.increment(created.token, "visits"), latchkeyError("INVALID_ARGUMENT"));
    await assert.rejects(
      steady.load(created.token, { increment: { visits: 1 } }),
      latchkeyError("INVALID_ARGUMENT"),
    );
    // Redis HINCRBY accepts only a canonical integer: no fraction, no leading zero, no space.
    for (const text of ["1.5", "07", " 7", "1e3"]) {
      await legacy.set(created.token, { visits: text });
      await assert.rejects(
        steady.increment(created.token, "visits"),
        latchkeyError("INVALID_ARGUMENT"),
        text,
      );
    }
    const loaded = await legacy.load(created.token);
    assert.equal(loaded?.data.visits, "1e3", "the value is unchanged");
    assert.equal(loaded?.data.name, "n");
  });

  it("a load's increment counts up to the largest safe integer and refuses to pass it, changing nothing", async () => {
    const { steady, user, issued } = ctx();
    // 16 digits: past the Redis load script's fast check (15), through its exact one.
    const edge = Number.MAX_SAFE_INTEGER - 1;
    const created = await steady.create(user("safe-edge"), { data: { visits: edge } });
    issued.add(created.token);
    const counted = await steady.load(created.token, { increment: { visits: 1 } });
    assert.equal(counted?.data.visits, Number.MAX_SAFE_INTEGER);
    await assert.rejects(
      steady.load(created.token, { increment: { visits: 1 } }),
      latchkeyError("INVALID_ARGUMENT"),
    );
    assert.equal((await steady.load(created.token))?.data.visits, Number.MAX_SAFE_INTEGER, "unchanged");
    const down = await steady.load(created.token, { increment: { visits: -Number.MAX_SAFE_INTEGER } });
    assert.equal(down?.data.visits, 0, "a 16-digit step within the range counts");
  });
}

function concurrencyTests(ctx: () => Context): void {
  it("the session size limit holds under 20 concurrent sets: those that fit win, the rest write nothing", async () => {
    const { target, user, issued } = ctx();
    const limited = tracked(
      createSessionManager({
        store: target.store,
        fields: { a0: "string", a1: "string", a2: "string", a3: "string", a4: "string", a5: "string" },
        maxSessionBytes: 1000,
      }),
      issued,
    );
    const { token } = await limited.create(user("size-race"));
    // Each set adds 302 bytes (name + value) under its own field: three fit in 1000, a fourth does not.
    const fields = ["a0", "a1", "a2", "a3", "a4", "a5"] as const;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        limited.set(token, { [fields[i % 6] as string]: "v".repeat(300) }),
      ),
    );
    for (const outcome of outcomes) {
      if (outcome.status === "rejected") assert.ok(latchkeyError("INVALID_ARGUMENT")(outcome.reason));
      else assert.equal(outcome.value, true);
    }
    const data = (await limited.load(token))?.data ?? {};
    assert.equal(Object.keys(data).length, 3, "exactly three fields fit");
    const bytes = Object.entries(data).reduce(
      (sum, [name, value]) => sum + name.length + String(value).length,
      0,
    );
    assert.ok(bytes <= 1000, `the session holds ${bytes} bytes`);
  });

  it("a store write that would store nothing is an error, never a silent success", async () => {
    const { target, user } = ctx();
    const now = Date.now();
    const userId = user("no-write");
    const session = {
      storageId: storageIdOf(generateToken(userTagOf(userId))),
      userId,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now, // already at its absolute end
      userAgent: "",
      ip: "",
      fields: {},
    };
    await assert.rejects(
      target.store.create(session, { now, idleTimeoutMs: 1000, touchIntervalMs: 0, maxSessionsPerUser: 10 }),
      latchkeyError("INVALID_ARGUMENT"),
    );
    assert.equal(
      await target.store.load(session.storageId, { now, idleTimeoutMs: 1000, touchIntervalMs: 0 }),
      null,
    );
  });

  it("200 concurrent increments of one field count exactly 200", async () => {
    const { steady, user } = ctx();
    const { token } = await steady.create(user("increments"));
    const results = await Promise.all(Array.from({ length: 200 }, () => steady.increment(token, "visits")));
    assert.deepEqual(
      results.map(Number).sort((a, b) => a - b),
      oneTo(200),
      "every increment saw a distinct count",
    );
    assert.equal((await steady.load(token))?.data.visits, 200);
  });

  it("200 concurrent loads with an increment count exactly 200", async () => {
    const { steady, user } = ctx();
    const { token } = await steady.create(user("load-increments"));
    const loads = await Promise.all(
      Array.from({ length: 200 }, () => steady.load(token, { increment: { visits: 1 } })),
    );
    const seen = loads.map((session) => {
      assert.ok(session, "every load finds the session");
      return Number(session.data.visits);
    });
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      oneTo(200),
      "each load returns its own increment",
    );
    assert.equal((await steady.load(token))?.data.visits, 200);
  });

  it("concurrent sets of different fields all land", async () => {
    const { steady, user } = ctx();
    const { token } = await steady.create(user("sets"));
    const writes = await Promise.all([
      steady.set(token, { name: "n" }),
      steady.set(token, { admin: true }),
      steady.set(token, { prefs: { p: 1 } }),
      steady.increment(token, "visits", 5),
    ]);
    assert.deepEqual(writes, [true, true, true, 5]);
    assert.deepEqual((await steady.load(token))?.data, {
      name: "n",
      admin: true,
      prefs: { p: 1 },
      visits: 5,
    });
  });
}
