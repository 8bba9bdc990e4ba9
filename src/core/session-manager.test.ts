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
