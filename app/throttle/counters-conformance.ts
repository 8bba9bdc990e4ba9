/**
 * What every ThrottleCounters backend must do, run by memory-counters.test.ts and
 * redis-counters.test.ts (standalone and Cluster). Carried over from the counter cases of latchkey's
 * records conformance (test/conformance/records-conformance.ts), whose counters left the library.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ThrottleCounters } from "./counters.js";

/** Windows of the timing tests: wide enough that a second's stall does not decide them. */
export const WINDOW_MS = 1500;
/** How long past a window's end a check waits (timers and Redis's expiry are not exact). */
export const MARGIN_MS = 100;

/** Fails, never skips, when the machine stalled past a deadline the test depends on. */
export function assertInTime(deadline: number, what: string): void {
  assert.ok(
    Date.now() < deadline,
    `the machine stalled past a deadline by ${Date.now() - deadline} ms: ${what}`,
  );
}

export async function sleepUntil(time: number): Promise<void> {
  const wait = time - Date.now();
  if (wait > 0) await sleep(wait);
}

export interface CountersContext {
  counters: ThrottleCounters;
  /** A key no other test uses. */
  key(name: string): string;
  /** Whether the backend holds anything for `key` (Redis EXISTS, the memory map's size). */
  exists?(key: string): Promise<boolean>;
}

export function counterTests(ctx: () => CountersContext): void {
  it("hit counts exactly under 20 concurrent hits and resets after its window", async () => {
    const { counters, key } = ctx();
    const name = key("hits");
    assert.equal(await counters.hits(name), 0);
    const first = Date.now();
    const counts = await Promise.all(Array.from({ length: 20 }, () => counters.hit(name, WINDOW_MS)));
    const hitBy = Date.now();
    const total = await counters.hits(name);
    assertInTime(first + WINDOW_MS, "the hits fit in one window");
    assert.deepEqual(
      counts.sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.equal(total, 20);
    await sleepUntil(hitBy + WINDOW_MS + MARGIN_MS);
    assert.equal(await counters.hits(name), 0, "the window ended");
    assert.equal(await counters.hit(name, WINDOW_MS), 1, "a new window starts");
  });

  it("a hit window is fixed: it starts with the first hit and later hits do not extend it", async () => {
    const { counters, key } = ctx();
    const name = key("fixed-window");
    const first = Date.now();
    assert.equal(await counters.hit(name, WINDOW_MS), 1);
    const firstBy = Date.now();
    await sleep(WINDOW_MS / 2);
    const second = await counters.hit(name, WINDOW_MS);
    assertInTime(first + WINDOW_MS, "the second hit came inside the window");
    assert.equal(second, 2);
    // Past the first window, inside the one a sliding counter would have restarted at the second hit.
    await sleepUntil(firstBy + WINDOW_MS + 30);
    assert.equal(
      await counters.hit(name, WINDOW_MS),
      1,
      "the first window ended with its first hit's window",
    );
  });

  it("refund takes one hit back, never below zero, never creating a counter", async () => {
    const { counters, key, exists } = ctx();
    const name = key("refund");
    assert.equal(await counters.refund(name), 0, "no counter: nothing to take back");
    assert.equal(await counters.hits(name), 0);
    if (exists) assert.equal(await exists(name), false, "a refund created no counter");
    assert.equal(await counters.hit(name, 60_000), 1);
    assert.equal(await counters.hit(name, 60_000), 2);
    assert.equal(await counters.refund(name), 1);
    assert.equal(await counters.refund(name), 0);
    assert.equal(await counters.refund(name), 0, "not below zero");
    assert.equal(await counters.hit(name, 60_000), 1, "the same window counts on");
    const counts = await Promise.all(Array.from({ length: 10 }, () => counters.refund(name)));
    assert.ok(counts.every((count) => count === 0));
    assert.equal(await counters.hits(name), 0);
  });

  it("a refund keeps the counter's window: it ends with its first hit's window", async () => {
    const { counters, key } = ctx();
    const name = key("refund-window");
    assert.equal(await counters.hit(name, WINDOW_MS), 1);
    const firstBy = Date.now();
    assert.equal(await counters.hit(name, WINDOW_MS), 2);
    await sleep(WINDOW_MS / 2);
    assert.equal(await counters.refund(name), 1);
    assertInTime(firstBy + WINDOW_MS, "the refund came inside the window");
    assert.equal(await counters.hits(name), 1);
    await sleepUntil(firstBy + WINDOW_MS + MARGIN_MS);
    assert.equal(await counters.hits(name), 0, "the window ended as the first hit set it");
    assert.equal(await counters.refund(name), 0, "an ended counter is not refunded into life");
    assert.equal(await counters.hit(name, WINDOW_MS), 1);
  });

  it("delete forgets a counter; deleting none is no error", async () => {
    const { counters, key, exists } = ctx();
    const name = key("delete-counter");
    await counters.hit(name, 60_000);
    assert.equal(await counters.hit(name, 60_000), 2);
    await counters.delete(name);
    assert.equal(await counters.hits(name), 0);
    if (exists) assert.equal(await exists(name), false);
    assert.equal(await counters.hit(name, 60_000), 1);
    await counters.delete(key("never-existed"));
  });

  it("counters of different keys are independent", async () => {
    const { counters, key } = ctx();
    const [a, b] = [key("independent-a"), key("independent-b")];
    await counters.hit(a, 60_000);
    await counters.hit(a, 60_000);
    assert.equal(await counters.hit(b, 60_000), 1);
    assert.equal(await counters.refund(b), 0);
    assert.equal(await counters.hits(a), 2);
  });

  it("refuses a window that is not a positive number of milliseconds, counting nothing", async () => {
    const { counters, key } = ctx();
    const name = key("bad-window");
    for (const window of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "60" as never]) {
      await assert.rejects(counters.hit(name, window), { code: "INVALID_ARGUMENT" }, String(window));
    }
    assert.equal(await counters.hits(name), 0);
  });
}
