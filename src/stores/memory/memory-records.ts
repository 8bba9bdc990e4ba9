import { InvalidArgumentError, LatchkeyError } from "../../core/errors.js";
import type { RecordStore } from "../../core/session-store.js";

interface Counter {
  count: number;
  /** When the fixed window that began with the first hit ends. */
  resetAt: number;
}

/** The record side of the memory store, plus what the store needs to sweep, dump and clear it. */
export interface MemoryRecords {
  readonly api: RecordStore;
  /** Drops counters whose window has ended. */
  sweep(now: number): void;
  dump(): string[];
  clear(): void;
}

/**
 * Records and fixed-window hit counters in two maps. Records never expire; counters expire with their
 * window. A record and a counter under the same key are independent; `delete` forgets both.
 *
 * Bounded by `maxRecords` (records and counters together). When full: expired counters are swept, then
 * the counter whose window started first is evicted. Records (accounts) are data, never a cache: they are
 * never evicted, and when only records are left a new one is refused with STORE_FULL. A flood of hits
 * therefore never pushes out a record; it can push out older counters, which resets their windows.
 */
export function createMemoryRecords(maxRecords: number, assertOpen: () => void): MemoryRecords {
  // Map iteration follows insertion order: the first entry of each map is its oldest.
  const records = new Map<string, Map<string, string>>();
  const counters = new Map<string, Counter>();
  // Sweeping is a full scan, so when the store is full of live entries it runs at most once per
  // `sweepEvery` insertions instead of on every one (amortized O(16) per insertion).
  const sweepEvery = Math.max(1, Math.floor(maxRecords / 16));
  let insertsSinceSweep = Number.POSITIVE_INFINITY;

  const sweep = (now: number): void => {
    for (const [key, counter] of counters) {
      if (now >= counter.resetAt) counters.delete(key);
    }
    insertsSinceSweep = 0;
  };

  const makeRoom = (now: number): void => {
    insertsSinceSweep += 1;
    if (records.size + counters.size < maxRecords) return;
    if (insertsSinceSweep >= sweepEvery) sweep(now);
    while (records.size + counters.size >= maxRecords) {
      const oldestCounter = counters.keys().next();
      if (!oldestCounter.done) {
        counters.delete(oldestCounter.value);
        continue;
      }
      throw new LatchkeyError(
        "STORE_FULL",
        `latchkey: the memory store holds maxRecords (${maxRecords}) records; raise it or use Redis`,
      );
    }
  };

  /** The live counter of `key`, dropping it when its window has ended. */
  const liveCounter = (key: string, now: number): Counter | undefined => {
    const counter = counters.get(key);
    if (counter && now >= counter.resetAt) {
      counters.delete(key);
      return undefined;
    }
    return counter;
  };

  const api: RecordStore = {
    async insert(key, fields) {
      assertOpen();
      const entries = Object.entries(fields);
      // A Redis hash cannot be empty: an empty record would not exist there, so it is refused here too.
      if (entries.length === 0) throw new InvalidArgumentError("a record needs at least one field");
      if (records.has(key)) return false;
      makeRoom(Date.now());
      records.set(key, new Map(entries.map(([name, value]) => [name, String(value)])));
      return true;
    },

    async get(key) {
      assertOpen();
      const record = records.get(key);
      return record ? Object.fromEntries(record) : null;
    },

    async hit(key, windowMs) {
      assertOpen();
      if (typeof windowMs !== "number" || !Number.isFinite(windowMs) || windowMs <= 0) {
        throw new InvalidArgumentError(`hit window must be a number of milliseconds > 0, got ${windowMs}`);
      }
      const now = Date.now();
      const counter = liveCounter(key, now);
      if (counter) {
        counter.count += 1;
        return counter.count;
      }
      makeRoom(now);
      counters.set(key, { count: 1, resetAt: now + windowMs });
      return 1;
    },

    async hits(key) {
      assertOpen();
      return liveCounter(key, Date.now())?.count ?? 0;
    },

    async delete(key) {
      assertOpen();
      records.delete(key);
      counters.delete(key);
    },
  };

  return {
    api,
    sweep,
    dump() {
      const out: string[] = [];
      for (const [key, record] of records) out.push(`record:${key}`, ...[...record].flat());
      for (const [key, counter] of counters) out.push(`hits:${key}`, String(counter.count));
      return out;
    },
    clear() {
      records.clear();
      counters.clear();
    },
  };
}
