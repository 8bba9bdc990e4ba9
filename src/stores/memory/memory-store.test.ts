import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it, mock } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { InvalidOptionError, LatchkeyError, type LatchkeyErrorCode } from "../../core/errors.js";
import {
  type CreatePolicy,
  type ForwardedSession,
  isForwarded,
  type SessionStore,
  type StoredSession,
} from "../../core/session-store.js";
import { generateToken, publicIdOfStorageId, storageIdOf, tagOf } from "../../core/token.js";
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

/** A load's session, or null; never an expiry reason or a forward (these tests load live sessions). */
const loadLive = async (
  store: SessionStore,
  ...args: Parameters<SessionStore["load"]>
): Promise<StoredSession | null> => {
  const loaded = await store.load(...args);
  assert.notEqual(typeof loaded, "string", `the load found the session expired (${String(loaded)})`);
  assert.ok(!isForwarded(loaded as StoredSession | ForwardedSession | null), "the load found a forward");
  return loaded as StoredSession | null;
};

/** The ids of the sessions currently held, in eviction order. */
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
    assert.ok(rotated && !isForwarded(rotated));
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

describe("memory store forwards (token renewal)", () => {
  const T = 1_700_000_000_000;
  /** A fresh storage id, with the slot tag of `like` when given (a rotation keeps the tag). */
  const newId = (like?: string): string =>
    storageIdOf(generateToken(like === undefined ? undefined : tagOf(like)));
  const renewal = (sealedToken = "sealed", graceMs = 5_000) => ({ sealedToken, graceMs });
  /** The ids of the forwards currently held, read from the dump (not through the store's lookups). */
  const forwardIds = (store: ReturnType<typeof createMemoryStore>): string[] =>
    dumpMemoryStore(store)
      .filter((entry) => entry.startsWith("forward:"))
      .map((entry) => entry.slice("forward:".length));

  /** The ids in a user's index, read from the dump (a storage id has no ":", a dump's keys do). */
  const indexedIds = (store: ReturnType<typeof createMemoryStore>, userId: string): string[] => {
    const dump = dumpMemoryStore(store);
    const at = dump.indexOf(`user:${userId}`);
    if (at < 0) return [];
    const end = dump.findIndex((entry, i) => i > at && entry.includes(":"));
    return dump.slice(at + 1, end < 0 ? undefined : end);
  };

  /** A store holding one session at `oldId`, renewed at T + 1000 to `successorId` with a 5 s grace. */
  const renewed = async (userId = "u") => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const oldId = newId();
    const successorId = newId(oldId);
    await store.create(
      { ...session(oldId, T, userId), fields: { n: "1" }, flash: { hello: "there" } },
      policy(T),
    );
    const rotated = await store.rotate(oldId, successorId, policy(T + 1000), undefined, renewal());
    assert.ok(rotated && !isForwarded(rotated));
    return { store, oldId, successorId, rotated };
  };

  it("rotate with a forward: the successor is issued now, the old id forwards to it", async () => {
    const { store, oldId, successorId, rotated } = await renewed();
    assert.equal(rotated.storageId, successorId);
    assert.equal(rotated.tokenIssuedAt, T + 1000);
    assert.equal(rotated.lastSeenAt, T + 1000);
    assert.equal(rotated.createdAt, T);
    assert.deepEqual(heldIds(store), [successorId]);
    assert.deepEqual(forwardIds(store), [oldId]);
    const dump = dumpMemoryStore(store);
    const at = dump.indexOf(`forward:${oldId}`);
    assert.deepEqual(dump.slice(at + 1, at + 4), [successorId, "sealed", String(T + 6000)]);
    await store.close();
  });

  it("a load at a forward returns it and changes nothing: no increment, no touch, no flash taken", async () => {
    const { store, oldId, successorId } = await renewed();
    const before = dumpMemoryStore(store);
    const found = await store.load(oldId, { ...policy(T + 2000), takeFlash: true }, { n: 5 });
    assert.deepEqual(found, { forwardedTo: successorId, sealedToken: "sealed" });
    assert.ok(isForwarded(found));
    assert.deepEqual(dumpMemoryStore(store), before, "nothing written");
    // The successor as it was: its counter, idle timer and flash untouched (this load neither touches nor takes).
    const successor = await loadLive(store, successorId, {
      ...policy(T + 2000, 60_000, 60_000),
      takeFlash: true,
    });
    assert.deepEqual(successor?.fields, { n: "1" });
    assert.equal(successor?.lastSeenAt, T + 1000);
    assert.deepEqual(successor?.flash, { hello: "there" });
    await store.close();
  });

  it("sets tokenIssuedAt on every rotation, with or without a forward, and keeps it from a create", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const a = newId();
    await store.create(session(a, T), policy(T));
    assert.equal((await loadLive(store, a, policy(T)))?.tokenIssuedAt, undefined, "absent: at createdAt");
    const b = newId(a);
    const plain = await store.rotate(a, b, policy(T + 10));
    assert.ok(plain && !isForwarded(plain));
    assert.equal(plain.tokenIssuedAt, T + 10);
    assert.equal((await loadLive(store, b, policy(T + 20)))?.tokenIssuedAt, T + 10);
    const c = newId(a);
    const withForward = await store.rotate(b, c, policy(T + 30), undefined, renewal());
    assert.ok(withForward && !isForwarded(withForward));
    assert.equal(withForward.tokenIssuedAt, T + 30);
    assert.equal((await store.take(c, T + 40))?.tokenIssuedAt, T + 30);
    const d = newId();
    await store.create({ ...session(d, T + 50), tokenIssuedAt: T + 45 }, policy(T + 50));
    assert.equal((await loadLive(store, d, policy(T + 50)))?.tokenIssuedAt, T + 45);
    await store.close();
  });

  it("a second rotate of the old id returns the same forward and writes nothing", async () => {
    const { store, oldId, successorId } = await renewed();
    const before = dumpMemoryStore(store);
    const rewrite = { expect: { n: "1" }, set: { n: "2" } };
    const again = await store.rotate(
      oldId,
      newId(oldId),
      policy(T + 1500),
      rewrite,
      renewal("other", 60_000),
    );
    assert.deepEqual(again, { forwardedTo: successorId, sealedToken: "sealed" });
    assert.deepEqual(await store.rotate(oldId, newId(oldId), policy(T + 1600)), again, "a plain rotate too");
    assert.deepEqual(dumpMemoryStore(store), before, "nothing written");
    await store.close();
  });

  it("a rotation refused by its rewrite writes no forward", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const a = newId();
    await store.create(session(a, T), policy(T));
    const rewrite = { expect: { name: "changed" }, set: {} };
    assert.equal(await store.rotate(a, newId(a), policy(T + 10), rewrite, renewal()), null);
    assert.deepEqual(heldIds(store), [a]);
    assert.deepEqual(forwardIds(store), []);
    await store.close();
  });

  it("update at a forward changes the successor and keeps the forward", async () => {
    const { store, oldId, successorId } = await renewed();
    const changes = { set: { name: "m" }, increment: { n: 1 }, flash: { more: "x" }, maxBytes: LIMIT };
    assert.deepEqual(await store.update(oldId, changes, T + 2000), { n: 2 });
    assert.deepEqual(forwardIds(store), [oldId]);
    const successor = await store.take(successorId, T + 2000);
    assert.deepEqual(successor?.fields, { name: "m", n: "2" });
    assert.deepEqual(successor?.flash, { hello: "there", more: "x" });
    await store.close();
  });

  it("take at a forward takes the successor and deletes the forward", async () => {
    const { store, oldId, successorId } = await renewed();
    const taken = await store.take(oldId, T + 2000);
    assert.equal(taken?.storageId, successorId);
    assert.deepEqual(taken?.fields, { n: "1" });
    assert.deepEqual(taken?.flash, { hello: "there" });
    assert.deepEqual(heldIds(store), []);
    assert.deepEqual(forwardIds(store), []);
    assert.deepEqual(await store.listForUser("u", T + 2000), []);
    await store.close();
  });

  it("destroy at a forward deletes the successor and the forward", async () => {
    const { store, oldId } = await renewed();
    assert.equal(await store.destroy(oldId, T + 2000), true);
    assert.deepEqual(heldIds(store), []);
    assert.deepEqual(forwardIds(store), []);
    assert.equal(dumpMemoryStore(store).length, 0, "nothing left, not even the user index");
    assert.equal(await store.destroy(oldId, T + 2000), false);
    await store.close();
  });

  it("a forward whose successor is gone is no session for update, take and destroy", async () => {
    const { store, oldId, successorId } = await renewed();
    assert.equal(await store.destroy(successorId, T + 2000), true);
    // load still reports the forward (the successor "may since have ended"): the manager follows it.
    assert.deepEqual(await store.load(oldId, policy(T + 2000)), {
      forwardedTo: successorId,
      sealedToken: "sealed",
    });
    assert.equal(await store.update(oldId, { set: { a: "b" }, maxBytes: LIMIT }, T + 2000), null);
    assert.equal(await store.take(oldId, T + 2000), null);
    assert.deepEqual(heldIds(store), []);
    assert.equal(await store.destroy(oldId, T + 2000), false);
    assert.deepEqual(forwardIds(store), [], "destroy deletes the forward anyway");
    await store.close();
  });

  it("follows one hop only: a forward to a renewed session is no session", async () => {
    const { store, oldId, successorId } = await renewed();
    const third = newId(oldId);
    assert.ok(await store.rotate(successorId, third, policy(T + 2000), undefined, renewal("second")));
    assert.deepEqual(await store.load(oldId, policy(T + 2500)), {
      forwardedTo: successorId,
      sealedToken: "sealed",
    });
    assert.equal(await store.update(oldId, { set: { a: "b" }, maxBytes: LIMIT }, T + 2500), null);
    assert.equal(await store.take(oldId, T + 2500), null);
    assert.equal(await store.destroy(oldId, T + 2500), false);
    assert.deepEqual(heldIds(store), [third], "the session two hops away is untouched");
    assert.deepEqual((await loadLive(store, third, policy(T + 2500)))?.fields, { n: "1" });
    await store.close();
  });

  it("a forward is gone graceMs after the renewal: the old id is no session, the successor lives on", async () => {
    const { store, oldId, successorId } = await renewed();
    assert.ok(isForwarded(await store.load(oldId, policy(T + 5999))));
    assert.equal(await store.load(oldId, policy(T + 6000)), null);
    assert.deepEqual(forwardIds(store), [], "deleted when found past its time");
    assert.equal(await store.rotate(oldId, newId(oldId), policy(T + 6000), undefined, renewal()), null);
    assert.equal(await store.update(oldId, { set: { a: "b" }, maxBytes: LIMIT }, T + 6000), null);
    assert.equal(await store.destroy(oldId, T + 6000), false);
    assert.equal(await store.take(oldId, T + 6000), null);
    assert.deepEqual((await loadLive(store, successorId, policy(T + 6000)))?.fields, { n: "1" });
    await store.close();
  });

  it("the background sweep frees forwards past their time", async () => {
    let now = T;
    const store = createMemoryStore({ sweepIntervalMs: 10, clock: () => now });
    const a = newId();
    await store.create(session(a, T), policy(T, 3_600_000));
    await store.rotate(a, newId(a), policy(T), undefined, renewal("s", 100));
    assert.deepEqual(forwardIds(store), [a]);
    now = T + 100;
    await sleep(60);
    assert.deepEqual(forwardIds(store), []);
    assert.equal(heldIds(store).length, 1);
    await store.close();
  });

  it("forwards are bounded like sessions, apart from them: the oldest forward goes, never a session", async () => {
    const store = createMemoryStore({ maxSessions: 3, maxAnonymousSessions: 2, sweepIntervalMs: 0 });
    const ids = [newId(), newId(), newId()];
    for (const id of ids) await store.create(session(id, T), policy(T));
    const anonymousIds = [newId(), newId()];
    for (const id of anonymousIds) await store.create(session(id, T, ""), policy(T));
    const renewedIds: string[] = [];
    // 100 renewals of signed-in sessions, then 100 of anonymous ones, all within a grace of an hour.
    for (let i = 0; i < 100; i++) {
      const k = i % 3;
      const current = ids[k] as string;
      const next = newId(current);
      assert.ok(await store.rotate(current, next, policy(T + i), undefined, renewal(`s${i}`, 3_600_000)));
      ids[k] = next;
      renewedIds.push(current);
    }
    for (let i = 0; i < 100; i++) {
      const k = i % 2;
      const current = anonymousIds[k] as string;
      const next = newId(current);
      assert.ok(
        await store.rotate(current, next, policy(T + 100 + i), undefined, renewal(`a${i}`, 3_600_000)),
      );
      anonymousIds[k] = next;
      renewedIds.push(current);
    }
    assert.deepEqual(heldIds(store).sort(), [...ids, ...anonymousIds].sort(), "every session stays");
    assert.deepEqual(
      forwardIds(store).sort(),
      [...renewedIds.slice(97, 100), ...renewedIds.slice(198)].sort(),
      "each pool keeps its newest forwards: anonymous renewals dropped no signed-in forward",
    );
    await store.close();
  });

  it("forwards are in no user index: listForUser, destroyById and destroyForUser ignore them", async () => {
    const { store, oldId, successorId } = await renewed();
    assert.deepEqual(
      (await store.listForUser("u", T + 2000)).map((s) => s.storageId),
      [successorId],
    );
    assert.deepEqual(indexedIds(store, "u"), [successorId], "the index names the successor only");
    assert.equal(await store.destroyById("u", publicIdOfStorageId(oldId), T + 2000), false);
    assert.deepEqual(forwardIds(store), [oldId]);
    assert.equal(await store.destroyForUser("u", T + 2000), 1, "counts the session, not the forward");
    assert.deepEqual(heldIds(store), []);
    assert.equal(await store.update(oldId, { set: { a: "b" }, maxBytes: LIMIT }, T + 2000), null);
    await store.close();
  });

  it("never makes a session of an id that is a live forward", async () => {
    const { store, oldId } = await renewed();
    await assert.rejects(
      store.create(session(oldId, T + 2000), policy(T + 2000)),
      rejectsWith("INVALID_ARGUMENT"),
    );
    assert.equal(heldIds(store).length, 1, "nothing written");
    assert.deepEqual(forwardIds(store), [oldId]);
    await store.create(session(oldId, T + 6000), policy(T + 6000));
    assert.deepEqual(forwardIds(store), [], "once the forward is gone, the id is free");
    assert.ok(await loadLive(store, oldId, policy(T + 6000)));
    await store.close();
  });
});
