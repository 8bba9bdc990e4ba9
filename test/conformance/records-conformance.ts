import assert from "node:assert/strict";
import { it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  assertInTime,
  type Context,
  MARGIN_MS,
  oneTo,
  realClock,
  sleepUntil,
} from "./conformance-context.js";

/** Hit windows of the timing tests: wide enough that a second's stall does not decide them. */
const WINDOW_MS = 1500;

/** The RecordStore beside the sessions (`manager.store.records`): accounts and login throttles. */
export function recordTests(ctx: () => Context): void {
  it("insert creates a record only if the key is free, atomically under 20 concurrent inserts", async () => {
    const { steady, key } = ctx();
    const { records } = steady.store;
    const name = key("insert");
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => records.insert(name, { owner: `writer-${i}`, n: String(i) })),
    );
    assert.equal(results.filter(Boolean).length, 1, "exactly one insert wins");
    const winner = results.indexOf(true);
    assert.deepEqual(await records.get(name), { owner: `writer-${winner}`, n: String(winner) });

    assert.equal(await records.insert(name, { owner: "late" }), false);
    assert.deepEqual(await records.get(name), { owner: `writer-${winner}`, n: String(winner) });
    assert.equal(await records.get(key("missing")), null);

    await records.delete(name);
    assert.equal(await records.get(name), null);
    assert.equal(await records.insert(name, { owner: "again" }), true, "a deleted key is free again");
    assert.deepEqual(await records.get(name), { owner: "again" });
  });

  it("insert with a TTL: the record ends after it, freeing the key; a bad TTL is refused", async () => {
    const { steady, key } = ctx();
    const { records } = steady.store;
    const name = key("expiring");
    const written = Date.now();
    assert.equal(await records.insert(name, { owner: "first" }, { ttlMs: WINDOW_MS }), true);
    assert.deepEqual(await records.get(name), { owner: "first" });
    assert.equal(await records.insert(name, { owner: "second" }, { ttlMs: WINDOW_MS }), false);
    assertInTime(realClock, written + WINDOW_MS, "the record was read before its TTL");
    await sleepUntil(written + WINDOW_MS + MARGIN_MS);
    assert.equal(await records.get(name), null, "the TTL ended the record");
    assert.equal(await records.insert(name, { owner: "third" }), true, "its key is free again");
    assert.deepEqual(await records.get(name), { owner: "third" });
    for (const ttlMs of [0, -1, 1.5, Number.NaN, "60" as never]) {
      await assert.rejects(records.insert(key("bad-ttl"), { a: "1" }, { ttlMs }), {
        code: "INVALID_ARGUMENT",
      });
    }
    assert.equal(await records.get(key("bad-ttl")), null, "a refused insert writes nothing");
  });

  it("hit counts exactly under 20 concurrent hits and resets after its window", async () => {
    const { steady, key } = ctx();
    const { records } = steady.store;
    const name = key("hits");
    assert.equal(await records.hits(name), 0);
    const first = Date.now();
    const counts = await Promise.all(Array.from({ length: 20 }, () => records.hit(name, WINDOW_MS)));
    const hitBy = Date.now();
    const total = await records.hits(name);
    assertInTime(realClock, first + WINDOW_MS, "the hits fit in one window");
    assert.deepEqual(
      counts.sort((a, b) => a - b),
      oneTo(20),
    );
    assert.equal(total, 20);
    await sleepUntil(hitBy + WINDOW_MS + MARGIN_MS);
    assert.equal(await records.hits(name), 0, "the window ended");
    assert.equal(await records.hit(name, WINDOW_MS), 1, "a new window starts");
  });

  it("a hit window is fixed: it starts with the first hit and later hits do not extend it", async () => {
    const { steady, key } = ctx();
    const { records } = steady.store;
    const name = key("fixed-window");
    const first = Date.now();
    assert.equal(await records.hit(name, WINDOW_MS), 1);
    const firstBy = Date.now();
    await sleep(WINDOW_MS / 2);
    const second = await records.hit(name, WINDOW_MS);
    assertInTime(realClock, first + WINDOW_MS, "the second hit came inside the window");
    assert.equal(second, 2);
    // Past the first window, inside the one a sliding counter would have restarted at the second hit.
    await sleepUntil(firstBy + WINDOW_MS + 30);
    assert.equal(await records.hit(name, WINDOW_MS), 1, "the first window ended with its first hit's window");
  });

  it("refund takes one hit back, never below zero, never creating a counter or moving its window", async () => {
    const { steady, key } = ctx();
    const { records } = steady.store;
    const name = key("refund");
    assert.equal(await records.refund(name), 0, "no counter: nothing to take back");
    assert.equal(await records.hits(name), 0);
    assert.equal(await records.hit(name, 60_000), 1);
    assert.equal(await records.hit(name, 60_000), 2);
    assert.equal(await records.refund(name), 1);
    assert.equal(await records.refund(name), 0);
    assert.equal(await records.refund(name), 0, "not below zero");
    assert.equal(await records.hit(name, 60_000), 1, "the same window counts on");
    const counts = await Promise.all(Array.from({ length: 10 }, () => records.refund(name)));
    assert.ok(counts.every((count) => count === 0));
    assert.equal(await records.hits(name), 0);
  });

  it("delete forgets a counter", async () => {
    const { steady, key } = ctx();
    const { records } = steady.store;
    const name = key("delete-counter");
    await records.hit(name, 60_000);
    assert.equal(await records.hit(name, 60_000), 2);
    await records.delete(name);
    assert.equal(await records.hits(name), 0);
    assert.equal(await records.hit(name, 60_000), 1);
    await records.delete(key("never-existed"));
  });
}
