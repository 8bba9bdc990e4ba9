import { userTagOf } from "latchkey";
import type { ThrottleCounters } from "./throttle/counters.js";

/**
 * Slows down password guessing with fixed-window counters (`ThrottleCounters`, throttle/counters.ts:
 * in memory, or on the Redis the sessions are on, so that every app instance sees the same counts). A "client" is a throttle key (`throttleKeyOf`: an IPv4
 * address, or an IPv6 address by its /64).
 *
 * **Reserve, then hash.** `reserveLogin` counts the attempt (one atomic increment per counter, whose
 * returned count decides) before the password is hashed, and only then may the caller check it. Every
 * attempt counts, not only failures: a burst of concurrent guesses gets exactly the limit through, the
 * rest 429, whatever the password (counting after the hash let all 40 of a burst through, and the right
 * password as the 38th logged in).
 *
 * **Three limits per window (default 15 minutes):**
 * - per account and client, strict (`maxPerAccountClient`, 5): the guesser is locked out of that
 *   account for the window, but only at its own address; the owner elsewhere is not.
 * - per client, for all accounts together (`maxPerIP`, 20): one address cannot spread guesses over
 *   many accounts. A success takes back only its own attempt (resetting the count would let a guesser
 *   clear it by logging into an account of its own).
 * - per account, from all clients (`maxPerAccount`, 100), loose and slowing rather than locking: past
 *   it the account takes one attempt per `slowIntervalSeconds` (10 s) from all clients together, the
 *   others get 429 with that Retry-After; a client that logged in to the account within
 *   `rememberClientSeconds` (30 days, its "usual address") is not slowed. So guessers spread over many
 *   addresses get about 190 guesses per account per window (100, then one per 10 s) instead of 5 per
 *   address without bound, and cannot lock the owner out at an address where the owner logged in
 *   before (only slow the owner at a new one).
 *
 * A success clears the account-and-client counter, takes its own attempt back from the per-client and
 * account-wide counts (`ThrottleCounters.refund`: they count failures and attempts in flight, so the many
 * users behind one NAT address are not locked out by their own logins), and remembers the client for
 * the account. When the counters cannot count (full memory counters throw STORE_FULL, a Redis outage
 * STORE_UNAVAILABLE) the error propagates and the attempt is refused (503): the check is never skipped.
 */
export interface LoginThrottleOptions {
  /** Login attempts per account from one client per window. Default 5. */
  maxPerAccountClient?: number;
  /** Login attempts from one client per window, all accounts together. Default 20. */
  maxPerIP?: number;
  /** Login attempts per account per window, all clients together, before the account is slowed. Default 100. */
  maxPerAccount?: number;
  /** Past `maxPerAccount`: one attempt for the account per this many seconds. Default 10. */
  slowIntervalSeconds?: number;
  /** How long a client that logged in to an account escapes the account's slowing. Default 30 days. */
  rememberClientSeconds?: number;
  /** Window length in seconds. Default 900 (15 minutes). */
  windowSeconds?: number;
  /**
   * Sign-up attempts per client per window. Default 10. Each account costs a scrypt hash and a record
   * that is never evicted, so one client must not be able to create them without bound.
   */
  maxSignupsPerIP?: number;
}

export interface LoginThrottle {
  /**
   * Counts a login attempt for `userId` (null: a name that can be no account) from `client`, before
   * the password is checked. Seconds to wait when it is over a limit (the attempt must then not be
   * checked), else 0.
   */
  reserveLogin(userId: string | null, client: string): Promise<number>;
  /** After the right password: clears the account-and-client count and remembers the client. */
  loginSucceeded(userId: string, client: string): Promise<void>;
  /** Counts a sign-up attempt (of valid input) from `client`; seconds to wait when over the limit, else 0. */
  admitSignup(client: string): Promise<number>;
  readonly windowSeconds: number;
}

export function createLoginThrottle(
  counters: ThrottleCounters,
  options: LoginThrottleOptions = {},
): LoginThrottle {
  const {
    maxPerAccountClient = 5,
    maxPerIP = 20,
    maxPerAccount = 100,
    slowIntervalSeconds = 10,
    rememberClientSeconds = 30 * 24 * 3600,
    windowSeconds = 900,
    maxSignupsPerIP = 10,
  } = options;
  const windowMs = windowSeconds * 1000;
  const { clientKey, accountClientKey, accountKey, slowKey, knownKey, signupKey } = throttleKeys;
  return {
    windowSeconds,

    async reserveLogin(userId, client) {
      // The client's own limit first, and alone: an attempt it refuses writes nothing per account, so
      // one client cycling through distinct usernames creates one counter, not one per name (which
      // filled the memory counters, and wrote a Redis key per name, before).
      // The counters do not say when a window started, so the whole window is the honest upper bound.
      if ((await counters.hit(clientKey(client), windowMs)) > maxPerIP) return windowSeconds;
      if (userId === null) return 0;
      if ((await counters.hit(accountClientKey(userId, client), windowMs)) > maxPerAccountClient) {
        return windowSeconds;
      }
      // Counted only for attempts the client-level limits let through: one address hammering an
      // account locks itself out without slowing the account for everyone.
      const [accountWide, known] = await Promise.all([
        counters.hit(accountKey(userId), windowMs),
        counters.hits(knownKey(userId, client)),
      ]);
      if (accountWide <= maxPerAccount || known > 0) return 0;
      const inInterval = await counters.hit(slowKey(userId), slowIntervalSeconds * 1000);
      return inInterval === 1 ? 0 : slowIntervalSeconds;
    },

    async loginSucceeded(userId, client) {
      // The attempt was counted before it was known to be right: take it back from the per-client and
      // account-wide counts, so that they count failures (and attempts in flight) only. Many people
      // behind one address (an office, a carrier's NAT) then log in as often as they like.
      // The known-client counter is deleted first so that the remembering starts again from this login
      // (a window starts with its first hit). All in one round trip, then the hit.
      await Promise.all([
        counters.refund(clientKey(client)),
        counters.refund(accountKey(userId)),
        counters.delete(accountClientKey(userId, client)),
        counters.delete(knownKey(userId, client)),
      ]);
      // Best effort: counters too full to remember a client only means it may be slowed.
      await counters.hit(knownKey(userId, client), rememberClientSeconds * 1000).catch(() => 0);
    },

    async admitSignup(client) {
      return (await counters.hit(signupKey(client), windowMs)) > maxSignupsPerIP ? windowSeconds : 0;
    },
  };
}

/**
 * The throttle's keys: it owns their layout, the Redis Cluster hash tag included (a Redis backend only
 * puts its prefix before them, see throttle/redis-counters.ts). A user id has no ":" (the username
 * rule) and a client key no "{" (an IP address, or an IPv6 /64), so these keys cannot collide, and the
 * first "{...}" of a key is the tag chosen here.
 *
 * An account's counters carry its user's slot tag (`{<userTagOf(userId)>}`, the tag of its sessions'
 * keys in latchkey's store), so on a Redis Cluster they live on the master of the account's sessions: a
 * login touches two slots besides the account record (the client's and the user's), not five, and
 * fails while one master is down only if it needs that master. A client's counters have no tag: they
 * spread over the masters by their address.
 */
export const throttleKeys = {
  /** Login attempts from a client, all accounts together. */
  clientKey: (client: string) => `login:client:${client}`,
  /** Login attempts on an account from one client. */
  accountClientKey: (userId: string, client: string) =>
    `${tagOf(userId)}login:account:${userId}:client:${client}`,
  /** Login attempts on an account from all clients. */
  accountKey: (userId: string) => `${tagOf(userId)}login:account:${userId}`,
  /** The one attempt an account slowed past maxPerAccount takes per interval. */
  slowKey: (userId: string) => `${tagOf(userId)}login:slow:${userId}`,
  /** A client that logged in to an account lately (its "usual address"). */
  knownKey: (userId: string, client: string) => `${tagOf(userId)}login:known:${userId}:client:${client}`,
  /** Sign-up attempts from a client. */
  signupKey: (client: string) => `signups:client:${client}`,
} as const;

/** The Redis Cluster hash tag of a user's keys: its sessions' slot. */
function tagOf(userId: string): string {
  return `{${userTagOf(userId)}}`;
}
