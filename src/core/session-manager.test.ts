import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMemoryStore } from "../stores/memory/index.js";
import { InvalidOptionError } from "./errors.js";
import { createSessionManager } from "./session-manager.js";

describe("createSessionManager load", () => {
  it("skips an increment whose step is undefined, as a Partial allows", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const sessions = createSessionManager({ store, fields: { visits: "integer", hits: "integer" } });
    const { token } = await sessions.create("user");
    const loaded = await sessions.load(token, { increment: { visits: 1, hits: undefined } });
    assert.deepEqual(loaded?.data, { visits: 1 });
    await store.close();
  });
});

describe("createSessionManager user ids", () => {
  it("every per-user call refuses a user id that is not a string of 1-256 characters", async () => {
    const sessions = createSessionManager({ store: createMemoryStore() });
    for (const userId of [undefined, null, 42, "", "x".repeat(257), { toString: () => "ada" }]) {
      const bad = userId as unknown as string;
      for (const call of [
        () => sessions.create(bad),
        () => sessions.listForUser(bad),
        () => sessions.destroyById(bad, "abc"),
        () => sessions.destroyForUser(bad),
      ]) {
        await assert.rejects(
          call,
          (error: unknown) => (error as { code?: string }).code === "INVALID_ARGUMENT",
        );
      }
    }
  });
});

describe("createSessionManager lifetimes and limits", () => {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  const invalidOption = (option: string) => (error: unknown) =>
    error instanceof InvalidOptionError && error.option === option;

  it("refuses timeouts that cannot work: under a second, fractions, non-numbers", () => {
    for (const [option, value] of [
      ["idleTimeoutSeconds", 0.0004],
      ["idleTimeoutSeconds", 0.4],
      ["idleTimeoutSeconds", 1.5],
      ["idleTimeoutSeconds", 0],
      ["idleTimeoutSeconds", "60"],
      ["absoluteTimeoutSeconds", 0.5],
      ["absoluteTimeoutSeconds", Number.POSITIVE_INFINITY],
      ["touchIntervalSeconds", 0.2],
      ["touchIntervalSeconds", -1],
      ["maxSessionsPerUser", 0],
      ["maxSessionsPerUser", 2.5],
      ["maxFieldBytes", 0],
      ["maxSessionBytes", -1],
      ["clock", "now"],
    ] as const) {
      assert.throws(
        () => createSessionManager({ store, [option]: value }),
        invalidOption(option),
        `${option}: ${String(value)}`,
      );
    }
    assert.ok(createSessionManager({ store, idleTimeoutSeconds: 1, absoluteTimeoutSeconds: 1 }));
  });

  it("refuses a field over maxFieldBytes and fields over maxSessionBytes, writing nothing", async () => {
    const sessions = createSessionManager({
      store,
      fields: { note: "string", other: "string", prefs: "json" },
      maxFieldBytes: 100,
      maxSessionBytes: 150,
    });
    const tooBig = (error: unknown) => (error as { code?: string }).code === "INVALID_ARGUMENT";
    await assert.rejects(sessions.create("limits", { data: { note: "x".repeat(101) } }), tooBig);
    // Bytes, not characters: 34 four-byte emoji are 136 bytes.
    await assert.rejects(sessions.create("limits", { data: { note: "🙂".repeat(34) } }), tooBig);
    await assert.rejects(sessions.create("limits", { data: { prefs: { list: "y".repeat(95) } } }), tooBig);
    await assert.rejects(
      sessions.create("limits", { data: { note: "x".repeat(90), other: "y".repeat(90) } }),
      tooBig,
    );
    assert.deepEqual(await sessions.listForUser("limits"), [], "no refused create wrote anything");

    const { token } = await sessions.create("limits", { data: { note: "x".repeat(100) } });
    await assert.rejects(sessions.set(token, { other: "y".repeat(101) }), tooBig);
    await assert.rejects(sessions.set(token, { other: "y".repeat(60) }), tooBig, "100 + 60 + names > 150");
    assert.deepEqual((await sessions.load(token))?.data, { note: "x".repeat(100) }, "nothing was written");
    assert.equal(await sessions.set(token, { note: "x", other: "y".repeat(100) }), true, "within both");
  });

  it("refuses an ip that is not a string of at most 45 characters, and cuts the user agent", async () => {
    const sessions = createSessionManager({ store, maxUserAgentLength: 10 });
    for (const ip of ["1".repeat(46), "x".repeat(12_000), 42]) {
      await assert.rejects(
        sessions.create("ip-user", { ip: ip as string }),
        (error: unknown) => (error as { code?: string }).code === "INVALID_ARGUMENT",
      );
    }
    const longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
    const { session } = await sessions.create("ip-user", { ip: longest, userAgent: "a".repeat(500) });
    assert.equal(session.ip, longest);
    assert.equal(session.userAgent, "a".repeat(10));
  });

  it("runs on its clock: expiry with no sleeping", async () => {
    let now = Date.now();
    const clocked = createSessionManager({
      store,
      idleTimeoutSeconds: 60,
      absoluteTimeoutSeconds: 3600,
      clock: () => now,
    });
    const { token } = await clocked.create("clocked");
    now += 59_000;
    assert.ok(await clocked.load(token), "alive 59 s later");
    now += 61_000;
    assert.equal(await clocked.load(token), null, "ended 61 s after the last view");
  });
});

describe("createSessionManager encryptFields", () => {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  const fields = { note: "string", prefs: "json", visits: "integer", admin: "boolean" } as const;
  const refused = (error: unknown) => error instanceof InvalidOptionError && error.option === "encryptFields";

  it("refuses integer, boolean and undeclared fields at construction, naming the option", () => {
    for (const names of [["visits"], ["admin"], ["missing"], ["toString"], ["note", "visits"]]) {
      assert.throws(
        () => createSessionManager({ store, fields, encryptFields: names as ["note"] }),
        refused,
        names.join(),
      );
    }
    assert.throws(() => createSessionManager({ store, encryptFields: ["note"] }), refused, "no schema");
    assert.throws(() => createSessionManager({ store, fields, encryptFields: "note" as never }), refused);
  });

  it("accepts string and json fields; a load decrypts them with or without an event listener", async () => {
    const events: string[] = [];
    for (const onEvent of [undefined, (event: { type: string }) => events.push(event.type)]) {
      const sessions = createSessionManager({ store, fields, encryptFields: ["note", "prefs"], onEvent });
      const { token } = await sessions.create("user", { data: { note: "n", prefs: { a: 1 }, visits: 2 } });
      assert.deepEqual((await sessions.load(token))?.data, { note: "n", prefs: { a: 1 }, visits: 2 });
      const rotated = await sessions.rotate(token);
      assert.deepEqual((await sessions.load(rotated?.token))?.data, {
        note: "n",
        prefs: { a: 1 },
        visits: 2,
      });
    }
    assert.equal(events.filter((type) => type === "rotated").length, 1, "one rotation, one event");
  });
});
