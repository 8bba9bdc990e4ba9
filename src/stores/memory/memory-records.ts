import { InvalidArgumentError, InvalidOptionError, LatchkeyError } from "../../core/errors.js";
import { type RecordStore, recordTTLOf } from "../../core/session-store.js";

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

export interface MemoryRecordBounds {
  /** Most records (already checked by the store). */
  maxRecords: number;
  /** Most live hit counters; checked here. Default 100_000. */
  maxCounters?: number | undefined;
}

const DEFAULT_MAX_COUNTERS = 100_000;

/**
 * Records and fixed-window hit counters in two maps, each with its own bound. Records expire only when
 * inserted with a TTL; counters expire with their window. A record and a counter under the same key are independent;
 * `delete` forgets both.
 *
 * Nothing is ever evicted. Records (accounts) are data, not a cache; counters are what throttles are
 * made of, and dropping a live one would reset a lockout (a flood of fresh keys from many addresses
 * would open a victim's account to guessing again). So when `maxRecords` records are held a new one is
 * refused with STORE_FULL, and when `maxCounters` counters are held, expired ones are swept and, if
 * none had expired, a hit on a new key is refused with STORE_FULL: a throttle built on it must then
 * refuse the attempt it could not count (fail closed) rather than let it through unchecked.
 */
export function createMemoryRecords(bounds: MemoryRecordBounds, assertOpen: () => void): MemoryRecords {
  const { maxRecords, maxCounters = DEFAULT_MAX_COUNTERS } = bounds;
  if (typeof maxCounters !== "number" || !Number.isInteger(maxCounters) || maxCounters < 1) {
    throw new InvalidOptionError(
      "maxCounters",
      `must be a whole number from 1 to ${Number.MAX_SAFE_INTEGER}, got ${String(maxCounters)}`,
    );
  }
  const records = new Map<string, Map<string, string>>();
  /** When each record inserted with a TTL ends (records without one never do). */
  const recordExpiry = new Map<string, number>();
  const counters = new Map<string, Counter>();
  // The earliest end of a window among the counters held (a lower bound: a counter deleted since may
  // have set it). A full store whose earliest window is still running has nothing to sweep, so a
  // refused hit costs no scan; a sweep runs only when it will free something (or correct this bound).
  let nextExpiry = Number.POSITIVE_INFINITY;

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

  const sweepRecords = (now: number): void => {
    for (const [key, expiresAt] of recordExpiry) {
      if (now >= expiresAt) {
        records.delete(key);
        recordExpiry.delete(key);
      }
    }
  };

  const sweep = (now: number): void => {
    sweepRecords(now);
    nextExpiry = Number.POSITIVE_INFINITY;
    for (const [key, counter] of counters) {
      if (now >= counter.resetAt) counters.delete(key);
      else nextExpiry = Math.min(nextExpiry, counter.resetAt);
    }
  };

  const roomForCounter = (now: number): void => {
    if (counters.size < maxCounters) return;
    if (now >= nextExpiry) sweep(now);
    if (counters.size < maxCounters) return;
    throw new LatchkeyError(
      "STORE_FULL",
      `latchkey: the memory store holds maxCounters (${maxCounters}) live hit counters; raise it or use Redis`,
    );
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
    async insert(key, fields, options) {
      assertOpen();
      const ttlMs = recordTTLOf(options);
      const entries = Object.entries(fields);
      // A Redis hash cannot be empty: an empty record would not exist there, so it is refused here too.
      if (entries.length === 0) throw new InvalidArgumentError("a record needs at least one field");
      const now = Date.now();
      if (liveRecord(key, now)) return false;
      if (records.size >= maxRecords) sweepRecords(now);
      if (records.size >= maxRecords) {
        throw new LatchkeyError(
          "STORE_FULL",
          `latchkey: the memory store holds maxRecords (${maxRecords}) records; raise it or use Redis`,
        );
      }
      records.set(key, new Map(entries.map(([name, value]) => [name, String(value)])));
      if (ttlMs !== undefined) recordExpiry.set(key, now + ttlMs);
      return true;
    },

    async get(key) {
      assertOpen();
      const record = liveRecord(key, Date.now());
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
      roomForCounter(now);
      const resetAt = now + windowMs;
      counters.set(key, { count: 1, resetAt });
      nextExpiry = Math.min(nextExpiry, resetAt);
      return 1;
    },

    async refund(key) {
      assertOpen();
      const counter = liveCounter(key, Date.now());
      if (!counter) return 0;
      counter.count = Math.max(0, counter.count - 1);
      return counter.count;
    },

    async hits(key) {
      assertOpen();
      return liveCounter(key, Date.now())?.count ?? 0;
    },

    async delete(key) {
      assertOpen();
      records.delete(key);
      recordExpiry.delete(key);
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
      recordExpiry.clear();
      counters.clear();
      nextExpiry = Number.POSITIVE_INFINITY;
    },
  };
}
