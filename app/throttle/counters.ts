import { InvalidArgumentError } from "latchkey";

/**
 * Fixed-window hit counters: what the login throttle (login-throttle.ts) is made of. The throttle
 * chooses every key, a Redis Cluster hash tag (`{tag}`) included; a backend only stores them (the Redis
 * one under its own key prefix).
 *
 * Every backend keeps the same rules:
 * - a window starts with a counter's first hit and is not moved by later hits (fixed, not sliding);
 * - a hit is atomic with its window: a counter is never left without an end (it would lock for ever);
 * - a refund never creates a counter, never takes one below zero, and keeps its window;
 * - when a backend cannot count it throws (StoreUnavailableError on an outage, StoreFullError
 *   when the memory bound is reached): a throttle must then refuse the attempt it could
 *   not count (fail closed), and the app answers 503 as for any store outage.
 */
export interface ThrottleCounters {
  /** Adds one hit to `key`'s counter, starting a window of `windowMs` if none runs; the count in it. */
  hit(key: string, windowMs: number): Promise<number>;
  /** The count of `key` in its running window (0 when none). */
  hits(key: string): Promise<number>;
  /**
   * Takes one hit back from a running counter (an attempt counted before it was known to be allowed);
   * the count left. 0 when there is no counter, which is not created.
   */
  refund(key: string): Promise<number>;
  /** Forgets `key`'s counter. */
  delete(key: string): Promise<void>;
  /**
   * Resolves when the backend answers, else throws StoreUnavailableError: for the app's store monitor
   * and /healthz. Backends that cannot be unreachable (memory) have none.
   */
  ping?(): Promise<void>;
  /** Releases what the backend holds (a connection, a timer); calls fail afterwards. */
  close?(): Promise<void>;
}

/** Checks a hit's window, the same way on every backend: milliseconds, finite, > 0. */
export function checkWindow(windowMs: number): void {
  if (typeof windowMs !== "number" || !Number.isFinite(windowMs) || windowMs <= 0) {
    throw new InvalidArgumentError(`hit window must be a number of milliseconds > 0, got ${windowMs}`);
  }
}
