import { createMemoryCounters } from "./throttle/memory-counters.js";

/**
 * A bound on the anonymous sessions this app instance starts (a visitor without a session who gets one:
 * today only to carry the "You have logged out." notice). Each costs store memory for its lifetime, so
 * a client that could start them freely could fill Redis (under `noeviction`, every login then fails;
 * under an evicting policy, the login throttle's counters are evicted). Fixed windows, in this
 * process's memory (the bound is per instance): `maxPerClient` per client (an IPv4 address, an IPv6
 * /64) and `maxTotal` for all clients together. Past either, `admit` is false and the caller does
 * without the session (a notice shown directly instead of after the redirect).
 */
export interface AnonymousLimitOptions {
  /** Anonymous sessions one client may start per window. Default 20. */
  maxPerClient?: number;
  /** Anonymous sessions all clients together may start per window. Default 2,000. */
  maxTotal?: number;
  /** Window length in seconds. Default 900 (15 minutes). */
  windowSeconds?: number;
  /** Most clients tracked at once; past it, new clients are refused until windows end. Default 10,000. */
  maxClients?: number;
}

export interface AnonymousLimit {
  /** Counts an anonymous session `client` is about to start; false when over a bound (start none). */
  admit(client: string): Promise<boolean>;
  close(): Promise<void>;
}

export function createAnonymousLimit(options: AnonymousLimitOptions = {}): AnonymousLimit {
  const { maxPerClient = 20, maxTotal = 2000, windowSeconds = 900, maxClients = 10_000 } = options;
  const windowMs = windowSeconds * 1000;
  const counters = createMemoryCounters({ maxCounters: maxClients + 1 });
  return {
    async admit(client) {
      try {
        // The client's count first: a client over its share does not use up everyone's.
        if ((await counters.hit(`client:${client}`, windowMs)) > maxPerClient) return false;
        return (await counters.hit("total", windowMs)) <= maxTotal;
      } catch {
        // STORE_FULL: too many clients at once to track; refusing is the bounded answer.
        return false;
      }
    },
    close: () => counters.close(),
  };
}
