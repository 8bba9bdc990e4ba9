import assert from "node:assert/strict";
import { respCommand, respTargetOf } from "../harness/resp-client.js";

/** How many session hashes (`lk:s:*`) the Redis at `url` holds. */
export async function redisSessionCount(url: string): Promise<number> {
  const keys = await respCommand(respTargetOf(url), "KEYS", "lk:s:*");
  assert.ok(Array.isArray(keys), `KEYS answered ${JSON.stringify(keys)}`);
  return keys.length;
}

/**
 * A `whileLoggedIn` check for `exerciseExample`: the login made one more session in Redis, so the
 * example really keeps its sessions there (and not in memory).
 */
export async function expectOneMoreSession(url: string): Promise<() => Promise<void>> {
  const before = await redisSessionCount(url);
  return async () => {
    assert.equal(await redisSessionCount(url), before + 1, "the login stored its session in Redis");
  };
}
