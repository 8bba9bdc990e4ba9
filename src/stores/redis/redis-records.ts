import { InvalidArgumentError } from "../../core/errors.js";
import { type RecordStore, recordTTLOf } from "../../core/session-store.js";
import type { RunCommand } from "./command-runner.js";
import type { RedisDriver } from "./driver.js";
import type { KeyLayout } from "./keys.js";
import { confirmByReplicas, type ReplicaAcknowledgement, type StoreScripts } from "./scripts.js";

/**
 * Records (hashes under `<prefix>r:`) and fixed-window hit counters (strings under `<prefix>h:`). The two
 * live under different keys, so a record and a counter of the same name are independent, as in the
 * memory store; `delete` forgets both (two DELs: on a Cluster the keys may be on different masters).
 * With `acknowledgement` (waitForReplicas), `delete` waits for the replicas as the scripts do.
 */
export function createRedisRecords(
  driver: RedisDriver,
  scripts: StoreScripts,
  keys: KeyLayout,
  run: RunCommand,
  acknowledgement?: ReplicaAcknowledgement,
): RecordStore {
  return {
    async insert(key, fields, options) {
      const ttlMs = recordTTLOf(options);
      const flat = Object.entries(fields).flatMap(([name, value]) => [name, String(value)]);
      // A Redis hash cannot be empty: an empty record could not exist.
      if (flat.length === 0) throw new InvalidArgumentError("a record needs at least one field");
      const inserted = await run("records.insert", () =>
        scripts.insertRecord([keys.record(key)], ttlMs ?? 0, ...flat),
      );
      return inserted === 1;
    },

    async get(key) {
      const record = await run("records.get", () => driver.hgetall(keys.record(key)));
      return Object.keys(record).length === 0 ? null : record;
    },

    async hit(key, windowMs) {
      if (typeof windowMs !== "number" || !Number.isFinite(windowMs) || windowMs <= 0) {
        throw new InvalidArgumentError(`hit window must be a number of milliseconds > 0, got ${windowMs}`);
      }
      const window = Math.max(1, Math.ceil(windowMs));
      return run("records.hit", () => scripts.hitCounter([keys.counter(key)], window));
    },

    async refund(key) {
      return run("records.refund", () => scripts.refundCounter([keys.counter(key)]));
    },

    async hits(key) {
      const count = await run("records.hits", () => driver.get(keys.counter(key)));
      return count === null ? 0 : Number(count);
    },

    async delete(key) {
      await Promise.all([
        run("records.delete", () => driver.del(keys.record(key))),
        run("records.delete", () => driver.del(keys.counter(key))),
      ]);
      if (acknowledgement !== undefined) {
        await run("records.delete", () => confirmByReplicas(driver, acknowledgement));
      }
    },
  };
}
