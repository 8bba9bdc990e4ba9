import assert from "node:assert/strict";
import { isStoreUnavailable, type StoreUnavailableError } from "../../src/core/errors.js";

/** Runs `action`, expects a StoreUnavailableError, and returns it with how long the call took. */
export async function expectUnavailable(
  action: () => Promise<unknown>,
): Promise<{ error: StoreUnavailableError; ms: number }> {
  const started = Date.now();
  try {
    await action();
  } catch (error) {
    assert.ok(isStoreUnavailable(error), `expected StoreUnavailableError, got ${String(error)}`);
    return { error: error as StoreUnavailableError, ms: Date.now() - started };
  }
  assert.fail("the call succeeded");
}
