import { InvalidOptionError, StoreFullError, StoreUnavailableError } from "latchkey";
import { checkWindow, type ThrottleCounters } from "./counters.js";

export interface MemoryCountersOptions {
  /**
   * Most live counters held. Default 100_000. When reached, expired ones are swept and, if none had
   * expired, a hit on a new key is refused with STORE_FULL (never a live counter evicted).
   */
  maxCounters?: number;
  /**
   * Milliseconds between background sweeps of expired counters nobody asks for again. Default 60_000;
   * 0 turns the sweep off (a counter's window is checked on every access anyway). The timer does not
   * keep the process alive.
   */
  sweepIntervalMs?: number;
}

/** What the tests look at: the counters held, live or expired but not yet swept. */
export interface MemoryCounters extends ThrottleCounters {
  /** How many counters are held now (expired ones included until swept). */
  size(): number;
  /** Whether a counter of `key` is held (an expired one included until swept or asked for). */
  has(key: string): boolean;
  close(): Promise<void>;
}

interface Counter {
  count: number;
  /** When the fixed window that began with the first hit ends. */
  resetAt: number;
}

const DEFAULT_MAX_COUNTERS = 100_000;
const DEFAULT_SWEEP_MS = 60_000;
/** Node's largest timer delay. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The counters in one process's memory (the app on the memory store: one instance, nothing shared).
 * Moved here from latchkey's memory store, whose records no longer count.
 *
 * Nothing is ever evicted: dropping a live counter would reset a lockout (a flood of fresh keys from
 * many addresses would open a victim's account to guessing again). So when `maxCounters` are held,
 * expired ones are swept and, if none had expired, a hit on a new key is refused with a StoreFullError
 * (STORE_FULL), which the app answers like a full store (503, Retry-After): the throttle refuses the
 * attempt it could not count rather than letting it through unchecked.
 */
export function createMemoryCounters(options: MemoryCountersOptions = {}): MemoryCounters {
  const { maxCounters = DEFAULT_MAX_COUNTERS, sweepIntervalMs = DEFAULT_SWEEP_MS } = options;
  requireWhole("maxCounters", maxCounters, 1, Number.MAX_SAFE_INTEGER);
  requireWhole("sweepIntervalMs", sweepIntervalMs, 0, MAX_TIMER_MS);
  const counters = new Map<string, Counter>();
  // The earliest end of a window among the counters held (a lower bound: a counter deleted since may
  // have set it). A full map whose earliest window is still running has nothing to sweep, so a refused
  // hit costs no scan; a sweep runs only when it will free something (or correct this bound).
  let nextExpiry = Number.POSITIVE_INFINITY;
  let closed = false;

  const assertOpen = (): void => {
    if (closed) throw new StoreUnavailableError("latchkey app: the memory throttle counters are closed");
  };

  const sweep = (now: number): void => {
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
    throw new StoreFullError(
      `latchkey app: the memory throttle holds maxCounters (${maxCounters}) live counters; raise it or use Redis`,
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

  const timer = sweepIntervalMs > 0 ? setInterval(() => sweep(Date.now()), sweepIntervalMs) : undefined;
  timer?.unref();

  return {
    async hit(key, windowMs) {
      assertOpen();
      checkWindow(windowMs);
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

    async hits(key) {
      assertOpen();
      return liveCounter(key, Date.now())?.count ?? 0;
    },

    async refund(key) {
      assertOpen();
      const counter = liveCounter(key, Date.now());
      if (!counter) return 0;
      counter.count = Math.max(0, counter.count - 1);
      return counter.count;
    },

    async delete(key) {
      assertOpen();
      counters.delete(key);
    },

    size: () => counters.size,
    has: (key) => counters.has(key),

    async close() {
      closed = true;
      clearInterval(timer);
      counters.clear();
    },
  };
}

function requireWhole(option: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(
      option,
      `must be a whole number from ${min} to ${max}, got ${String(value)}`,
    );
  }
}
