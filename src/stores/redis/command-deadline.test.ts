import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommandTimeoutError, createCommandDeadline, type DeadlineSignal } from "./command-deadline.js";

// The command deadline alone, with a short timeout; the stores' availability tests prove it bounds
// real calls on both client libraries (a paused Redis, a Cluster without a slot map).

const TIMEOUT_MS = 100;

describe("command deadline", () => {
  it("a call that answers settles as it does, with the batch's live signal (made when asked for)", async () => {
    const deadline = createCommandDeadline(TIMEOUT_MS);
    let seen: DeadlineSignal | undefined;
    const value = await deadline.bound(async ({ signal }) => {
      seen = signal;
      return 42;
    });
    assert.equal(value, 42);
    assert.equal(seen?.aborted, false);
    await assert.rejects(
      deadline.bound(async () => {
        throw new Error("refused");
      }),
      /refused/,
    );
    await assert.rejects(
      deadline.bound(() => {
        throw new Error("thrown before any promise");
      }),
      /thrown before any promise/,
    );
  });

  it("a call that never answers is rejected after timeoutMs (never sooner), and its signal aborts", async () => {
    const deadline = createCommandDeadline(TIMEOUT_MS);
    let seen: DeadlineSignal | undefined;
    // What a real call's connection does: keep the process alive (the deadline's timer does not).
    const connection = setTimeout(() => undefined, 10 * TIMEOUT_MS);
    const started = performance.now();
    const error = await deadline
      .bound(({ signal }) => {
        seen = signal;
        return new Promise<never>(() => undefined);
      })
      .catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    assert.ok(error instanceof CommandTimeoutError, String(error));
    assert.match(error.message, /no reply within 100 ms/);
    // Timers may fire a fraction of a millisecond early by the monotonic clock.
    assert.ok(elapsed >= TIMEOUT_MS - 1, `rejected after ${elapsed} ms`);
    assert.equal(seen?.aborted, true, "the signal aborted, so node-redis can withdraw a queued command");
    clearTimeout(connection);
  });

  it("calls started together share one signal; later calls get a fresh one; a late answer is ignored", async () => {
    const deadline = createCommandDeadline(TIMEOUT_MS);
    const connection = setTimeout(() => undefined, 10 * TIMEOUT_MS);
    const signals: DeadlineSignal[] = [];
    let answerLate: (value: string) => void = () => undefined;
    const late = deadline.bound(
      ({ signal }) =>
        new Promise<string>((resolve) => {
          signals.push(signal);
          answerLate = resolve;
        }),
    );
    const quick = deadline.bound(async ({ signal }) => {
      signals.push(signal);
      return "quick";
    });
    assert.equal(await quick, "quick");
    assert.equal(signals[0], signals[1], "one batch, one signal");
    await assert.rejects(late, CommandTimeoutError);
    answerLate("too late");
    const next = await deadline.bound(async ({ signal }) => {
      signals.push(signal);
      return signal.aborted;
    });
    assert.equal(next, false, "a call after the batch expired gets a live signal");
    assert.notEqual(signals[2], signals[0]);
    clearTimeout(connection);
  });

  it("a signal calls each listener once when it aborts, and not one removed before", async () => {
    const deadline = createCommandDeadline(TIMEOUT_MS);
    const connection = setTimeout(() => undefined, 10 * TIMEOUT_MS);
    const calls: string[] = [];
    let signal: DeadlineSignal | undefined;
    await deadline
      .bound((given) => {
        signal = given.signal;
        const kept = () => calls.push("kept");
        const removed = () => calls.push("removed");
        given.signal.addEventListener("abort", kept, { once: true });
        given.signal.addEventListener("abort", removed, { once: true });
        given.signal.removeEventListener("abort", removed);
        return new Promise<never>(() => undefined);
      })
      .catch(() => undefined);
    assert.deepEqual(calls, ["kept"]);
    signal?.addEventListener("abort", () => calls.push("after"));
    assert.deepEqual(
      calls,
      ["kept"],
      "a listener added after the abort is not called (node-redis checks aborted first)",
    );
    clearTimeout(connection);
  });

  it("many calls of one batch may listen to its signal without a MaxListenersExceededWarning", async () => {
    // node-redis adds an abort listener per queued command; 50 in flight share one batch's signal.
    const deadline = createCommandDeadline(TIMEOUT_MS);
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      await Promise.all(
        Array.from({ length: 50 }, () =>
          deadline.bound(async ({ signal }) => {
            const listener = () => undefined;
            signal.addEventListener("abort", listener, { once: true });
            await new Promise((resolve) => setImmediate(resolve));
            signal.removeEventListener("abort", listener);
          }),
        ),
      );
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        warnings.map((warning) => warning.name),
        [],
      );
    } finally {
      process.off("warning", onWarning);
    }
  });
});
