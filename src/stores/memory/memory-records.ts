import { InvalidArgumentError, StoreFullError } from "../../core/errors.js";
import { recordTTLOf } from "../../core/record-options.js";
import type { RecordStore } from "../../core/session-store.js";

/** The record side of the memory store, plus what the store needs to sweep, dump and clear it. */
export interface MemoryRecords {
  readonly api: RecordStore;
  /** Drops records whose TTL has run out. */
  sweep(now: number): void;
  dump(): string[];
  clear(): void;
}

/**
 * Records in a map. They expire only when inserted with a TTL, and are never evicted, since they hold
 * data such as accounts: when `maxRecords` are held (after dropping expired ones), a new one is refused
 * with StoreFullError.
 */
export function createMemoryRecords(maxRecords: number, assertOpen: () => void): MemoryRecords {
  const records = new Map<string, Map<string, string>>();
  /** When each record inserted with a TTL ends (records without one never do). */
  const recordExpiry = new Map<string, number>();

  /** The record of `key`, dropping it when its TTL has run out. */
  const liveRecord = (key: string, now: number): Map<string, string> | undefined => {
    const expiresAt = recordExpiry.get(key);
    if (expiresAt !== undefined && now >= expiresAt) {
      records.delete(key);
      recordExpiry.delete(key);
      return undefined;
    }
    return records.get(key);
  };

  const sweep = (now: number): void => {
    for (const [key, expiresAt] of recordExpiry) {
      if (now >= expiresAt) {
        records.delete(key);
        recordExpiry.delete(key);
      }
    }
  };

  const api: RecordStore = {
    async insert(key, fields, options) {
      assertOpen();
      const ttlMs = recordTTLOf(options);
      const entries = Object.entries(fields);
      // A Redis hash cannot be empty: an empty record would not exist there, so it is refused here too.
      if (entries.length === 0) throw new InvalidArgumentError("a record needs at least one field");
      const now = Date.now();
      if (liveRecord(key, now)) return false;
      if (records.size >= maxRecords) sweep(now);
      if (records.size >= maxRecords) {
        throw new StoreFullError(
          `latchkey: the memory store holds maxRecords (${maxRecords}) records; raise it or use Redis`,
        );
      }
      records.set(key, new Map(entries.map(([name, value]) => [name, String(value)])));
      if (ttlMs !== undefined) recordExpiry.set(key, now + ttlMs);
      return true;
    },

    async update(key, fields, options = {}) {
      assertOpen();
      if (Object.keys(fields).length === 0)
        throw new InvalidArgumentError("an update needs at least one field");
      const record = liveRecord(key, Date.now());
      if (!record) return false;
      for (const [name, value] of Object.entries(options.expect ?? {})) {
        if (record.get(name) !== value) return false;
      }
      for (const [name, value] of Object.entries(fields)) record.set(name, String(value));
      return true;
    },

    async get(key) {
      assertOpen();
      const record = liveRecord(key, Date.now());
      return record ? Object.fromEntries(record) : null;
    },

    async delete(key) {
      assertOpen();
      records.delete(key);
      recordExpiry.delete(key);
    },
  };

  return {
    api,
    sweep,
    dump() {
      const out: string[] = [];
      for (const [key, record] of records) out.push(`record:${key}`, ...[...record].flat());
      return out;
    },
    clear() {
      records.clear();
      recordExpiry.clear();
    },
  };
}
