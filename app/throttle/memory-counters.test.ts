/**
 * Memory counters: the shared rules (counters-conformance.ts), then their bound, which never evicts a
 * live counter (carried over from latchkey's memory store tests, whose counters left the library).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { InvalidOptionError, isStoreUnavailable } from "latchkey";
import { counterTests } from "./counters-conformance.js";
import { createMemoryCounters, type MemoryCountersOptions } from "./memory-counters.js";

describe("memory counters: the counter rules", () => {
  const counters = createMemoryCounters({ sweepIntervalMs: 0 });
  after(() => counters.close());
  let n = 0;
  counterTests(() => ({
    counters,
    key: (name) => `${name}-${++n}`,
    exists: async (key) => counters.has(key),
  }));
});

describe("memory counters: bounds", () => {
  for (const value of [0, -1, 1.5, "10", Number.POSITIVE_INFINITY]) {
    it(`rejects maxCounters: ${String(value)}`, () => {
      assert.throws(
        () => createMemoryCounters({ maxCounters: value } as MemoryCountersOptions),
        (error) => error instanceof InvalidOptionError && error.option === "maxCounters",
      );
    });
  }

  it("rejects a sweep interval that is not a whole number of ms", () => {
    assert.throws(
      () => createMemoryCounters({ sweepIntervalMs: -1 }),
      (error) => error instanceof InvalidOptionError && error.option === "sweepIntervalMs",
    );
  });

  it("a live counter is never evicted: a full bound refuses a new key with STORE_FULL, old keys still count", async () => {
    const counters = createMemoryCounters({ maxCounters: 3, sweepIntervalMs: 0 });
    await counters.hit("lockout", 60_000);
    await counters.hit("lockout", 60_000);
    await counters.hit("b", 60_000);
    await counters.hit("c", 60_000);
    for (let i = 0; i < 10; i++) {
      await assert.rejects(counters.hit(`flood-${i}`, 60_000), {
        name: "StoreFullError",
        code: "STORE_FULL",
      });
    }
    assert.equal(await counters.hits("lockout"), 2, "the flood did not reset the lockout");
    assert.equal(await counters.hit("lockout", 60_000), 3, "a held counter still counts when full");
    assert.equal(await counters.refund("lockout"), 2, "and is refunded");
    assert.equal(await counters.hits("flood-0"), 0);
    assert.equal(counters.size(), 3);
    // A deleted counter makes room.
    await counters.delete("b");
    assert.equal(await counters.hit("flood-0", 60_000), 1);
    await counters.close();
  });

  it("expired counters are swept to make room when the bound is reached", async () => {
    const counters = createMemoryCounters({ maxCounters: 2, sweepIntervalMs: 0 });
    await counters.hit("short", 10);
    await counters.hit("long", 60_000);
    await sleep(30);
    assert.equal(await counters.hit("new", 60_000), 1, "the expired counter made room");
    assert.equal(await counters.hits("long"), 1);
    assert.equal(counters.size(), 2);
    await assert.rejects(counters.hit("another", 60_000), { code: "STORE_FULL" });
    await counters.close();
  });

  it("the background sweep frees expired counters nobody asks for, so a full bound recovers", async () => {
    const counters = createMemoryCounters({ maxCounters: 1, sweepIntervalMs: 20 });
    await counters.hit("a", 10);
    await sleep(80);
    assert.equal(counters.size(), 0);
    assert.equal(await counters.hit("b", 60_000), 1);
    await counters.close();
  });

  it("once closed, every call fails as an unavailable store", async () => {
    const counters = createMemoryCounters({ sweepIntervalMs: 0 });
    await counters.close();
    const calls: [string, () => Promise<unknown>][] = [
      ["hit", () => counters.hit("k", 1000)],
      ["hits", () => counters.hits("k")],
      ["refund", () => counters.refund("k")],
      ["delete", () => counters.delete("k")],
    ];
    for (const [name, call] of calls) {
      await assert.rejects(call(), (error) => isStoreUnavailable(error), name);
    }
  });
});
