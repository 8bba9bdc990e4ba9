import assert from "node:assert/strict";
import { it } from "node:test";
import type { RecordStore, SessionStore } from "../../src/core/session-store.js";
import { assertInTime, type Context, MARGIN_MS, realClock, sleepUntil } from "./conformance-context.js";

/** The TTL of the timing test: wide enough that a second's stall does not decide it. */
const WINDOW_MS = 1500;

/** The records capability beside the sessions (`manager.store.records`): accounts, hand-off records. */
export function recordTests(ctx: () => Context): void {
  it("insert creates a record only if the key is free, atomically under 20 concurrent inserts", async () => {
    const { steady, key } = ctx();
    const records = recordsOf(steady.store);
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
    const records = recordsOf(steady.store);
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

  it("update: only an existing record, only when the expected fields match, atomically under 20 concurrent updates", async () => {
    const { steady, key } = ctx();
    const records = recordsOf(steady.store);
    const name = key("update");
    assert.equal(await records.update(name, { a: "1" }), false, "no record: nothing written");
    assert.equal(await records.get(name), null);
    assert.equal(await records.insert(name, { owner: "ada", secret: "v0" }), true);
    // Twenty compare-and-sets from the same expected value: exactly one wins.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        records.update(name, { secret: `v${i + 1}` }, { expect: { secret: "v0" } }),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1, "exactly one update wins");
    const winner = results.indexOf(true) + 1;
    assert.deepEqual(await records.get(name), { owner: "ada", secret: `v${winner}` }, "other fields kept");
    assert.equal(await records.update(name, { secret: "x" }, { expect: { secret: "v0" } }), false);
    assert.equal(await records.update(name, { secret: "x" }, { expect: { missing: "" } }), false);
    assert.equal(await records.update(name, { extra: "e" }), true, "without a condition");
    assert.deepEqual(await records.get(name), { owner: "ada", secret: `v${winner}`, extra: "e" });
    await assert.rejects(records.update(name, {}), { code: "INVALID_ARGUMENT" });
    await records.delete(name);
    assert.equal(await records.update(name, { secret: "late" }), false, "a deleted record stays deleted");
    assert.equal(await records.get(name), null);
  });

  it("delete of a key that never existed is a no-op", async () => {
    const { steady, key } = ctx();
    const records = recordsOf(steady.store);
    await records.delete(key("never-existed"));
    assert.equal(await records.get(key("never-existed")), null);
  });
}

/** The store's optional records capability, which every store under this suite has. */
function recordsOf(store: SessionStore): RecordStore {
  assert.ok(store.records, `the ${store.kind} store has no records capability`);
  return store.records;
}
