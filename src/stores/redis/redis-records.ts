import { InvalidArgumentError } from "../../core/errors.js";
import { recordTTLOf } from "../../core/record-options.js";
import type { RecordStore } from "../../core/session-store.js";
import type { RunCommand } from "./command-runner.js";
import type { RedisDriver } from "./driver.js";
import type { KeyLayout } from "./keys.js";
import { confirmByReplicas, type ReplicaAcknowledgement, type StoreScripts } from "./script-calls.js";

/**
 * Records: hashes under `<prefix>r:`, one key each. With `acknowledgement` (waitForReplicas), `delete`
 * waits for the replicas as the scripts do.
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
      const inserted = await run("records.insert", (deadline) =>
        scripts.insertRecord(deadline, [keys.record(key)], [ttlMs ?? 0, ...flat]),
      );
      return inserted === 1;
    },

    async update(key, fields, options = {}) {
      const expected = Object.entries(options.expect ?? {}).flatMap(([name, value]) => [name, String(value)]);
      const flat = Object.entries(fields).flatMap(([name, value]) => [name, String(value)]);
      if (flat.length === 0) throw new InvalidArgumentError("an update needs at least one field");
      const updated = await run("records.update", (deadline) =>
        scripts.updateRecord(deadline, [keys.record(key)], [expected.length / 2, ...expected, ...flat]),
      );
      return updated === 1;
    },

    async get(key) {
      const record = await run("records.get", (deadline) => driver.hgetall(keys.record(key), deadline));
      return Object.keys(record).length === 0 ? null : record;
    },

    async delete(key) {
      await run("records.delete", (deadline) => driver.del(keys.record(key), deadline));
      if (acknowledgement !== undefined) {
        await run("records.delete", (deadline) => confirmByReplicas(driver, acknowledgement, deadline));
      }
    },
  };
}
