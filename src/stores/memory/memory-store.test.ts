import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it, mock } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { InvalidOptionError, LatchkeyError, type LatchkeyErrorCode } from "../../core/errors.js";
import type { CreatePolicy, SessionStore, StoredSession } from "../../core/session-store.js";
import { createMemoryStore, dumpMemoryStore, type MemoryStoreOptions } from "./memory-store.js";

// What the memory store does beyond the shared contract (test/conformance proves that): bounds and
// eviction, timers, copies, options. Store methods are called directly, with explicit clocks.

const policy = (now: number, idleTimeoutMs = 60_000, touchIntervalMs = 0): CreatePolicy => ({
  now,
  idleTimeoutMs,
  touchIntervalMs,
  maxSessionsPerUser: 100_000,
});
const LIMIT = 1 << 20;

const session = (storageId: string, now: number, userId = "u"): StoredSession => ({
  storageId,
  userId,
  createdAt: now,
  lastSeenAt: now,
  expiresAt: now + 3_600_000,
  userAgent: "ua",
  ip: "ip",
  fields: { name: "n" },
});

const rejectsWith = (code: LatchkeyErrorCode) => (error: unknown) =>
  error instanceof LatchkeyError && error.code === code;

/** The ids of the sessions currently held, in eviction order. */
/** A load's session, or null; never an expiry reason (these tests load live sessions). */
const loadLive = async (
  store: SessionStore,
  ...args: Parameters<SessionStore["load"]>
): Promise<StoredSession | null> => {
  const loaded = await store.load(...args);
  assert.notEqual(typeof loaded, "string", `the load found the session expired (${String(loaded)})`);
  return loaded as StoredSession | null;
};

const heldIds = (store: ReturnType<typeof createMemoryStore>): string[] =>
  dumpMemoryStore(store)
    .filter((entry) => entry.startsWith("session:"))
    .map((entry) => entry.slice("session:".length));

describe("createMemoryStore options", () => {
  const bad: [keyof MemoryStoreOptions, unknown][] = [
    ["maxSessions", 0],
    ["maxSessions", -1],
    ["maxSessions", 1.5],
    ["maxSessions", "10"],
    ["maxSessions", Number.NaN],
    ["maxRecords", 0],
    ["maxRecords", Number.POSITIVE_INFINITY],
    ["sweepIntervalMs", -1],
    ["sweepIntervalMs", 2 ** 31],
    ["sweepIntervalMs", 0.5],
  ];
  for (const [option, value] of bad) {
    it(`rejects ${option}: ${String(value)}`, () => {
      assert.throws(
        () => createMemoryStore({ [option]: value } as MemoryStoreOptions),
        (error) =>
          error instanceof InvalidOptionError && error.option === option && error.message.includes(option),
      );
    });
  }

  it("rejects options that are not an object", () => {
    assert.throws(() => createMemoryStore(null as unknown as MemoryStoreOptions), InvalidOptionError);
  });

  it("accepts defaults and sweepIntervalMs 0", async () => {
    const store = createMemoryStore();
    assert.equal(store.kind, "memory");
    await store.ping();
    await store.close();
    await createMemoryStore({ sweepIntervalMs: 0, maxSessions: 1, maxRecords: 1 }).close();
  });
});

describe("memory store bounds", () => {
  it("evicts the least recently refreshed session when full", async () => {
    const store = createMemoryStore({ maxSessions: 3, sweepIntervalMs: 0 });
    const now = Date.now();
    for (const id of ["a", "b", "c"]) await store.create(session(id, now), policy(now));
    assert.ok(await store.load("a", policy(now + 1))); // a is now the most recently refreshed
    await store.create(session("d", now + 2), policy(now + 2));
    assert.deepEqual(heldIds(store), ["c", "a", "d"]);
    assert.equal(await store.load("b", policy(now + 3)), null);
    assert.deepEqual((await store.listForUser("u", now + 3)).map((s) => s.storageId).sort(), ["a", "c", "d"]);
    await store.close();
  });

  it("a throttled load does not count as a refresh for eviction", async () => {
    const store = createMemoryStore({ maxSessions: 2, sweepIntervalMs: 0 });
    const now = Date.now();
    await store.create(session("a", now), policy(now, 60_000, 1000));
    await store.create(session("b", now), policy(now, 60_000, 1000));
    await store.load("a", policy(now + 10, 60_000, 1000)); // throttled: idle deadline unchanged
    await store.create(session("c", now + 20), policy(now + 20, 60_000, 1000));
    assert.deepEqual(heldIds(store), ["b", "c"]);
    await store.close();
  });

  it("sweeps expired sessions before evicting a live one", async () => {
    const store = createMemoryStore({ maxSessions: 3, sweepIntervalMs: 0 });
    const now = Date.now();
    await store.create(session("live-1", now), policy(now));
    await store.create(session("expiring", now), policy(now, 10));
    await store.create(session("live-2", now), policy(now));
    await store.create(session("new", now + 50), policy(now + 50));
    assert.deepEqual(heldIds(store), ["live-1", "live-2", "new"]);
    await store.close();
  });

  it("never holds more than maxSessions, and the user index shrinks with it", async () => {
    const store = createMemoryStore({ maxSessions: 50, sweepIntervalMs: 0 });
    const now = Date.now();
    for (let i = 0; i < 1000; i++) await store.create(session(`s${i}`, now, `user-${i % 7}`), policy(now));
    const held = heldIds(store);
    assert.equal(held.length, 50);
    assert.deepEqual(
      held,
      Array.from({ length: 50 }, (_, i) => `s${950 + i}`),
    );
    let listed = 0;
    for (let u = 0; u < 7; u++) listed += (await store.listForUser(`user-${u}`, now)).length;
    assert.equal(listed, 50);
    const indexed = dumpMemoryStore(store).filter((entry) => /^s\d+$/.test(entry));
    assert.equal(indexed.length, 50, "the user index holds exactly the held ids");
    await store.close();
  });
});

describe("memory store copies", () => {
  it("keeps its own copy of what it is given and hands out copies", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const now = Date.now();
    const input = session("a", now);
    await store.create(input, policy(now));
    input.fields.name = "changed";
    input.userId = "someone-else";

    const loaded = await loadLive(store, "a", policy(now));
    assert.ok(loaded);
    assert.equal(loaded.fields.name, "n");
    assert.equal(loaded.userId, "u");
    loaded.fields.name = "mutated";
    loaded.expiresAt = 0;
    const listed = await store.listForUser("u", now);
    assert.equal(listed[0]?.fields.name, "n");
    assert.ok(listed[0]);
    listed[0].fields.extra = "x";
    const rotated = await store.rotate("a", "b", policy(now));
    assert.ok(rotated);
    rotated.fields.name = "mutated";
    assert.deepEqual((await loadLive(store, "b", policy(now)))?.fields, { name: "n" });

    const fields = { owner: "o" };
    await store.records.insert("k", fields);
    fields.owner = "changed";
    const record = await store.records.get("k");
    assert.ok(record);
    record.owner = "mutated";
    assert.deepEqual(await store.records.get("k"), { owner: "o" });
    await store.close();
  });

  it("keeps a field named __proto__ as an ordinary field", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const now = Date.now();
    await store.create({ ...session("a", now), fields: JSON.parse('{"__proto__":"p"}') }, policy(now));
    const loaded = await loadLive(store, "a", policy(now));
    assert.equal(Object.getPrototypeOf(loaded?.fields), Object.prototype);
    assert.deepEqual(Object.entries(loaded?.fields ?? {}), [["__proto__", "p"]]);
    await store.close();
  });
});

describe("memory store expiry at load", () => {
  it("deletes a session found expired and says which deadline passed", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const now = Date.now();
    await store.create({ ...session("idle", now), expiresAt: now + 10_000 }, policy(now, 1000));
    await store.create({ ...session("absolute", now), expiresAt: now + 500 }, policy(now, 1000));
    assert.equal(await store.load("idle", policy(now + 1000, 1000)), "idle_expiry");
    assert.equal(await store.load("absolute", policy(now + 500, 1000)), "absolute_expiry");
    assert.equal(await store.load("idle", policy(now + 1001, 1000)), null, "deleted: now unknown");
    assert.deepEqual(heldIds(store), []);
    await store.close();
  });
});

describe("memory store increments", () => {
  it("keeps counts exact: a step or result beyond safe integers is refused", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const now = Date.now();
    await store.create(
      { ...session("a", now), fields: { n: String(Number.MAX_SAFE_INTEGER - 1) } },
      policy(now),
    );
    const add = (field: string, by: number) =>
      store.update("a", { increment: { [field]: by }, maxBytes: LIMIT }, Date.now());
    assert.deepEqual(await add("n", 1), { n: Number.MAX_SAFE_INTEGER });
    await assert.rejects(add("n", 1), rejectsWith("INVALID_ARGUMENT"));
    await assert.rejects(add("m", 2 ** 60), rejectsWith("INVALID_ARGUMENT"));
    assert.deepEqual(await add("m", -5), { m: -5 });
    assert.deepEqual(await add("m", 5), { m: 0 });
    await store.close();
  });

  it("an update whose increment fails writes nothing, not even its set", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const now = Date.now();
    await store.create({ ...session("a", now), fields: { bad: "x" } }, policy(now));
    await assert.rejects(
      store.update("a", { set: { name: "changed" }, increment: { bad: 1 }, maxBytes: LIMIT }, now),
      rejectsWith("INVALID_ARGUMENT"),
    );
    assert.deepEqual((await loadLive(store, "a", policy(now)))?.fields, { bad: "x" });
    assert.equal(await store.update("missing", { increment: { n: 1 }, maxBytes: LIMIT }, now), null);
    await store.close();
  });

  it("a load whose increments fail changes nothing, not even the idle timer", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const now = Date.now();
    await store.create({ ...session("a", now), fields: { good: "1", bad: "x" } }, policy(now));
    await assert.rejects(
      store.load("a", policy(now + 100), { good: 1, bad: 1 }),
      rejectsWith("INVALID_ARGUMENT"),
    );
    const loaded = await loadLive(store, "a", policy(now + 100, 60_000, 1000));
    assert.deepEqual(loaded?.fields, { good: "1", bad: "x" });
    assert.equal(loaded?.lastSeenAt, now);
    await store.close();
  });
});

describe("memory store lifecycle", () => {
  it("runs one unref'd sweep timer and clears it on close", async () => {
    const setSpy = mock.method(globalThis, "setInterval");
    const clearSpy = mock.method(globalThis, "clearInterval");
    try {
      const store = createMemoryStore({ sweepIntervalMs: 1234 });
      assert.equal(setSpy.mock.callCount(), 1);
      assert.equal(setSpy.mock.calls[0]?.arguments[1], 1234);
      const timer = setSpy.mock.calls[0]?.result as NodeJS.Timeout;
      assert.equal(timer.hasRef(), false, "the timer never keeps the process alive");
      await store.close();
      assert.equal(clearSpy.mock.callCount(), 1);
      assert.equal(clearSpy.mock.calls[0]?.arguments[0], timer);
      await createMemoryStore({ sweepIntervalMs: 0 }).close();
      assert.equal(setSpy.mock.callCount(), 1, "no timer when the sweep is off");
    } finally {
      setSpy.mock.restore();
      clearSpy.mock.restore();
    }
  });

  it("the sweep frees expired sessions and records nobody asks for", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 20 });
    const now = Date.now();
    await store.create(session("short", now), policy(now, 30));
    await store.create(session("long", now), policy(now));
    await store.records.insert("brief", { v: "1" }, { ttlMs: 30 });
    await store.records.insert("r", { v: "1" });
    await sleep(120);
    assert.deepEqual(heldIds(store), ["long"]);
    const dump = dumpMemoryStore(store);
    assert.ok(!dump.includes("record:brief") && dump.includes("record:r"));
    assert.ok(!dump.includes("short"), "the user index no longer names it");
    await store.close();
  });

  it("a process with an open store and its sweep timer exits on its own", async () => {
    const moduleUrl = new URL("./index.ts", import.meta.url).href;
    const script = `
      const { createMemoryStore } = await import(${JSON.stringify(moduleUrl)});
      const store = createMemoryStore({ sweepIntervalMs: 5 });
      await store.create({ storageId: "a", userId: "u", createdAt: 0, lastSeenAt: 0, expiresAt: 9e15, userAgent: "", ip: "", fields: {} },
        { now: Date.now(), idleTimeoutMs: 60000, touchIntervalMs: 0 });
      console.log("created");`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL("../../..", import.meta.url)),
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
      child.on("exit", (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
    );
    clearTimeout(killer);
    assert.equal(signal, null, "the process had to be killed: something kept it alive");
    assert.equal(code, 0);
    assert.equal(output.trim(), "created");
  });

  it("after close every method fails with STORE_UNAVAILABLE, and close can be called again", async () => {
    const store = createMemoryStore();
    const now = Date.now();
    await store.create(session("a", now), policy(now));
    await store.close();
    await store.close();
    const calls: [string, () => Promise<unknown>][] = [
      ["ping", () => store.ping()],
      ["create", () => store.create(session("b", now), policy(now))],
      ["load", () => store.load("a", policy(now))],
      ["update", () => store.update("a", { set: { x: "1" }, maxBytes: LIMIT }, Date.now())],
      ["update (increment)", () => store.update("a", { increment: { x: 1 }, maxBytes: LIMIT }, Date.now())],
      ["rotate", () => store.rotate("a", "c", policy(now))],
      ["destroy", () => store.destroy("a", Date.now())],
      ["listForUser", () => store.listForUser("u", now)],
      ["destroyForUser", () => store.destroyForUser("u", Date.now())],
      ["records.insert", () => store.records.insert("k", { v: "1" })],
      ["records.get", () => store.records.get("k")],
      ["records.delete", () => store.records.delete("k")],
    ];
    for (const [name, call] of calls) await assert.rejects(call(), rejectsWith("STORE_UNAVAILABLE"), name);
  });
});

describe("memory store arguments", () => {
  it("refuses an empty record and a TTL that is not a whole number of ms > 0", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    await assert.rejects(store.records.insert("k", {}), rejectsWith("INVALID_ARGUMENT"));
    for (const ttlMs of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await assert.rejects(
        store.records.insert("k", { v: "1" }, { ttlMs }),
        rejectsWith("INVALID_ARGUMENT"),
        String(ttlMs),
      );
    }
    assert.equal(await store.records.get("k"), null, "nothing was written");
    await store.close();
  });
});

describe("memory store record bound", () => {
  it("a full record bound refuses a new record with STORE_FULL and evicts none", async () => {
    const store = createMemoryStore({ maxRecords: 2, sweepIntervalMs: 0 });
    const { records } = store;
    await records.insert("r1", { v: "1" });
    await records.insert("r2", { v: "2" });
    await assert.rejects(records.insert("r3", { v: "3" }), rejectsWith("STORE_FULL"));
    assert.deepEqual(await records.get("r1"), { v: "1" });
    assert.equal(await records.get("r3"), null);
    await records.delete("r1");
    assert.equal(await records.insert("r3", { v: "3" }), true, "a deleted record made room");
    await store.close();
  });

  it("records whose TTL ran out are swept to make room", async () => {
    const store = createMemoryStore({ maxRecords: 1, sweepIntervalMs: 0 });
    await store.records.insert("brief", { v: "1" }, { ttlMs: 10 });
    await sleep(30);
    assert.equal(await store.records.insert("next", { v: "2" }), true);
    await store.close();
  });
});

describe("memory store anonymous sessions", () => {
  it("a flood of anonymous sessions evicts only anonymous ones, never a signed-in session", async () => {
    const store = createMemoryStore({ maxSessions: 10, maxAnonymousSessions: 5, sweepIntervalMs: 0 });
    const now = Date.now();
    for (let i = 0; i < 10; i++) await store.create(session(`user-${i}`, now, `u${i}`), policy(now));
    for (let i = 0; i < 1000; i++) {
      await store.create({ ...session(`anon-${i}`, now), userId: "", idleTimeoutMs: 900_000 }, policy(now));
    }
    const held = heldIds(store);
    assert.equal(held.filter((id) => id.startsWith("user-")).length, 10, "every signed-in session stays");
    assert.deepEqual(
      held.filter((id) => id.startsWith("anon-")),
      ["anon-995", "anon-996", "anon-997", "anon-998", "anon-999"],
      "the anonymous pool keeps its newest five",
    );
    for (let i = 0; i < 10; i++) assert.ok(await store.load(`user-${i}`, policy(now + 1)));
    await store.close();
  });

  it("rejects maxAnonymousSessions that is not a whole number >= 1", () => {
    for (const value of [0, 1.5, "5"]) {
      assert.throws(
        () => createMemoryStore({ maxAnonymousSessions: value as number }),
        (error) => error instanceof InvalidOptionError && error.option === "maxAnonymousSessions",
      );
    }
  });
});
