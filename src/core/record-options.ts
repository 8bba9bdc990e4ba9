import type { RecordInsertOptions } from "./session-store.js";
import { requireWholeArgument } from "./whole-number.js";

/** The longest record TTL (what a Redis PEXPIRE takes comfortably, and far beyond any use). */
const MAX_RECORD_TTL_MS = 2 ** 31 * 1000;

/** A record's TTL from `RecordStore.insert`'s options, checked; undefined for none. For every store. */
export function recordTTLOf(options: RecordInsertOptions | undefined): number | undefined {
  const ttlMs = options?.ttlMs;
  return ttlMs === undefined
    ? undefined
    : requireWholeArgument("a record's ttlMs", ttlMs, 1, MAX_RECORD_TTL_MS);
}
