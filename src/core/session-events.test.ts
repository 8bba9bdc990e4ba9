import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { describe, it } from "node:test";
import { createMemoryStore } from "../stores/memory/memory-store.js";
import { CHANNELS, type SessionEvent } from "./session-events.js";
import { createSessionManager } from "./session-manager.js";

describe("session events", () => {
  it("reports a failed store call with its operation, duration and code", async () => {
    const events: SessionEvent[] = [];
    const store = createMemoryStore();
    const sessions = createSessionManager({ store, onEvent: (event) => events.push(event) });
    const { token } = await sessions.create("ada");
    await store.close();
    await assert.rejects(sessions.load(token), { code: "STORE_UNAVAILABLE" });
    await assert.rejects(sessions.destroyForUser("ada"), { code: "STORE_UNAVAILABLE" });
    const failed = events.filter((event) => event.type === "store_failed");
    assert.deepEqual(
      failed.map((event) => [event.operation, event.code]),
      [
        ["load", "STORE_UNAVAILABLE"],
        ["destroyForUser", "STORE_UNAVAILABLE"],
      ],
    );
    for (const event of failed) assert.ok(event.durationMs >= 0 && event.durationMs < 1000);
  });

  it("ignores an onEvent that throws: the call it observes succeeds", async () => {
    const store = createMemoryStore();
    const sessions = createSessionManager({
      store,
      onEvent: () => {
        throw new Error("observer bug");
      },
    });
    const { token } = await sessions.create("ada");
    assert.ok(await sessions.load(token));
    assert.equal(await sessions.destroy(token), true);
    await store.close();
  });

  it("publishes loads and store calls only while subscribed", async () => {
    const store = createMemoryStore();
    const sessions = createSessionManager({ store });
    const { token } = await sessions.create("ada");
    const seen: unknown[] = [];
    const listener = (message: unknown) => seen.push(message);
    await sessions.load(token);
    assert.deepEqual(seen, []);
    subscribe(CHANNELS.loaded, listener);
    try {
      await sessions.load(token);
      await sessions.load("nope");
    } finally {
      unsubscribe(CHANNELS.loaded, listener);
    }
    await sessions.load(token);
    assert.deepEqual(seen, [{ result: "found" }, { result: "malformed" }]);
    await store.close();
  });

  it("refuses an onEvent that is not a function", () => {
    assert.throws(() => createSessionManager({ store: createMemoryStore(), onEvent: "log" as never }), {
      code: "INVALID_OPTION",
    });
  });
});
