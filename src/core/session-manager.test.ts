import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMemoryStore } from "../stores/memory/index.js";
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
