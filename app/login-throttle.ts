import type { RecordStore } from "latchkey";

/**
 * Slows down password guessing: failed logins are counted per account and per client IP in fixed
 * windows kept in the store (`RecordStore.hit`), so every app instance sees the same counts. Once a
 * count reaches its limit, logins for that account or from that IP are refused with 429 until the
 * window ends; a successful login clears its account's count.
 *
 * Limits are checked before the password and counted after it, so a burst of concurrent attempts can
 * overshoot a limit by the number in flight. The per-account limit lets anyone lock an account for one
 * window by failing on purpose: the usual price of per-account throttling.
 */
export interface LoginThrottleOptions {
  /** Failures per account per window. Default 5. */
  maxPerAccount?: number;
  /** Failures per client IP per window. Default 20. */
  maxPerIP?: number;
  /** Window length in seconds. Default 900 (15 minutes). */
  windowSeconds?: number;
  /**
   * Sign-up attempts per client IP per window. Default 10. Each account costs a scrypt hash and a
   * record that is never evicted, so one client must not be able to create them without bound.
   */
  maxSignupsPerIP?: number;
}

export interface LoginThrottle {
  /** Seconds to wait before trying again, or 0 when a login attempt may proceed. */
  retryAfter(userId: string | null, ip: string): Promise<number>;
  recordFailure(userId: string | null, ip: string): Promise<void>;
  recordSuccess(userId: string): Promise<void>;
  /** Counts a sign-up attempt from `ip`; seconds to wait when it is over the limit, else 0. */
  admitSignup(ip: string): Promise<number>;
  readonly windowSeconds: number;
}

export function createLoginThrottle(records: RecordStore, options: LoginThrottleOptions = {}): LoginThrottle {
  const { maxPerAccount = 5, maxPerIP = 20, windowSeconds = 900, maxSignupsPerIP = 10 } = options;
  const windowMs = windowSeconds * 1000;
  const accountKey = (userId: string) => `login-failures:account:${userId}`;
  const ipKey = (ip: string) => `login-failures:ip:${ip}`;
  const signupKey = (ip: string) => `signups:ip:${ip}`;

  return {
    windowSeconds,

    async retryAfter(userId, ip) {
      const [account, fromIP] = await Promise.all([
        userId === null ? 0 : records.hits(accountKey(userId)),
        records.hits(ipKey(ip)),
      ]);
      // The store does not say when a window started, so the whole window is the honest upper bound.
      return account >= maxPerAccount || fromIP >= maxPerIP ? windowSeconds : 0;
    },

    async recordFailure(userId, ip) {
      await Promise.all([
        userId === null ? undefined : records.hit(accountKey(userId), windowMs),
        records.hit(ipKey(ip), windowMs),
      ]);
    },

    async recordSuccess(userId) {
      await records.delete(accountKey(userId));
    },

    async admitSignup(ip) {
      return (await records.hit(signupKey(ip), windowMs)) > maxSignupsPerIP ? windowSeconds : 0;
    },
  };
}
