import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHashLimiter, HashLimitError } from "./hash-limiter.js";

/** A task that runs until the test opens its gate, and says when it started. */
function gatedTask(log: string[], name: string) {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    run: async () => {
      log.push(name);
      await gate;
      return name;
    },
    open: () => open(),
  };
}

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const refusedWith = (status: 429 | 503) => (error: unknown) =>
  error instanceof HashLimitError && error.statusCode === status && error.retryAfterSeconds === 1;

describe("hash limiter", () => {
  test("one client holds at most maxPerClient places: the rest are refused at once with 429", async () => {
    const limiter = createHashLimiter({ maxConcurrent: 4, maxPerClient: 2 });
    const started: string[] = [];
    const tasks = Array.from({ length: 5 }, (_, i) => gatedTask(started, `a${i}`));
    const runs = tasks.map((task) => limiter.run("a", task.run));
    const settled = await Promise.allSettled(runs.slice(2));
    for (const result of settled) {
      assert.equal(result.status, "rejected");
      assert.ok(refusedWith(429)(result.status === "rejected" ? result.reason : null));
    }
    assert.deepEqual(started, ["a0", "a1"], "only the admitted ones ran");
    // Another client is admitted while the first holds its share.
    const other = gatedTask(started, "b0");
    const otherRun = limiter.run("b", other.run);
    await settle();
    assert.deepEqual(started, ["a0", "a1", "b0"]);
    for (const task of [...tasks, other]) task.open();
    assert.deepEqual(await Promise.all([runs[0], runs[1], otherRun]), ["a0", "a1", "b0"]);
    assert.equal(limiter.running, 0);
    // Once its tasks finished, the client may hash again.
    assert.equal(await limiter.run("a", async () => "again"), "again");
  });

  test("at most maxConcurrent run; the others wait in FIFO order; a full queue refuses with 503", async () => {
    const limiter = createHashLimiter({ maxConcurrent: 2, maxPerClient: 1, maxQueued: 2 });
    const started: string[] = [];
    const tasks = ["c1", "c2", "c3", "c4"].map((client) => gatedTask(started, client));
    const runs = tasks.map((task, i) => limiter.run(`client-${i}`, task.run));
    await settle();
    assert.deepEqual(started, ["c1", "c2"]);
    assert.equal(limiter.running, 2);
    assert.equal(limiter.waiting, 2);
    await assert.rejects(
      limiter.run("client-5", async () => "never"),
      refusedWith(503),
    );
    tasks[1]?.open();
    await runs[1];
    await settle();
    assert.deepEqual(started, ["c1", "c2", "c3"], "the oldest waiter got the freed slot");
    for (const task of tasks) task.open();
    assert.deepEqual(await Promise.all(runs), ["c1", "c2", "c3", "c4"]);
    assert.equal(limiter.running, 0);
    assert.equal(limiter.waiting, 0);
  });

  test("a task that throws frees its slot and its client's place", async () => {
    const limiter = createHashLimiter({ maxConcurrent: 1, maxPerClient: 1 });
    await assert.rejects(
      limiter.run("a", async () => {
        throw new Error("scrypt failed");
      }),
      /scrypt failed/,
    );
    assert.equal(limiter.running, 0);
    assert.equal(await limiter.run("a", async () => 1), 1);
  });

  test("bad options are refused at construction, naming the option", () => {
    assert.throws(() => createHashLimiter({ maxConcurrent: 0 }), /maxConcurrent/);
    assert.throws(() => createHashLimiter({ maxPerClient: 1.5 }), /maxPerClient/);
    assert.throws(() => createHashLimiter({ maxQueued: -1 }), /maxQueued/);
  });
});
