/**
 * A cap on concurrent password hashing, so that a burst of logins or sign-ups cannot delay everyone
 * else's. scrypt runs on libuv's thread pool (4 threads by default) and each hash holds 32 MiB: 40
 * hashes started at once make the 41st wait behind all of them (measured: a login 6.3 s behind a
 * 40-request burst). Here at most `maxConcurrent` hashes run; the rest wait in one FIFO queue of at
 * most `maxQueued`; and one client (a throttle key: an IPv4 address or an IPv6 /64) may hold at most
 * `maxPerClient` places, running or waiting. So a burst from one client costs the others at most
 * `maxPerClient` hashes of waiting, and nothing ever waits without bound.
 *
 * A request over a bound is refused at once, never queued: `run` throws a HashLimitError, 429 when the
 * client already holds its share, 503 when the queue is full (the server is busy for everyone). Both
 * carry a Retry-After in seconds.
 */

export interface HashLimiterOptions {
  /** Hashes running at once, all clients together. Default 4 (libuv's default thread pool size). */
  maxConcurrent?: number;
  /** Hashes one client may have running or waiting. Default 2. */
  maxPerClient?: number;
  /** Hashes waiting for a free slot, all clients together. Default 32. */
  maxQueued?: number;
  /** The Retry-After of a refusal, in seconds. Default 1 (a hash takes about 0.1 s). */
  retryAfterSeconds?: number;
}

/** A hash was refused: the client holds its share (429) or the queue is full (503). */
export class HashLimitError extends Error {
  readonly statusCode: 429 | 503;
  readonly retryAfterSeconds: number;

  constructor(statusCode: 429 | 503, retryAfterSeconds: number) {
    super(
      statusCode === 429
        ? "too many password checks in flight for this client"
        : "too many password checks waiting",
    );
    this.name = "HashLimitError";
    this.statusCode = statusCode;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface HashLimiter {
  /** Runs `task` in a hashing slot (waiting for one if need be); throws HashLimitError over a bound. */
  run<T>(client: string, task: () => Promise<T>): Promise<T>;
  /** Hashes running now. */
  readonly running: number;
  /** Hashes waiting for a slot now. */
  readonly waiting: number;
}

export function createHashLimiter(options: HashLimiterOptions = {}): HashLimiter {
  const { maxConcurrent = 4, maxPerClient = 2, maxQueued = 32, retryAfterSeconds = 1 } = options;
  for (const [name, value, min] of [
    ["maxConcurrent", maxConcurrent, 1],
    ["maxPerClient", maxPerClient, 1],
    ["maxQueued", maxQueued, 0],
    ["retryAfterSeconds", retryAfterSeconds, 1],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < min) {
      throw new RangeError(`hash limiter: ${name} must be a whole number >= ${min}, got ${value}`);
    }
  }
  /** Places (running or waiting) held by each client; a client with none has no entry. */
  const held = new Map<string, number>();
  /** Wake-ups of the waiting tasks, oldest first: each is handed a slot as one frees. */
  const queue: (() => void)[] = [];
  let running = 0;

  const acquire = async (): Promise<void> => {
    if (running < maxConcurrent) {
      running += 1;
      return;
    }
    // The slot passes from a finishing task to the oldest waiter, so `running` stays as it is.
    await new Promise<void>((resolve) => queue.push(resolve));
  };

  const release = (): void => {
    const next = queue.shift();
    if (next) next();
    else running -= 1;
  };

  return {
    get running() {
      return running;
    },
    get waiting() {
      return queue.length;
    },

    async run(client, task) {
      const places = held.get(client) ?? 0;
      if (places >= maxPerClient) throw new HashLimitError(429, retryAfterSeconds);
      if (running >= maxConcurrent && queue.length >= maxQueued) {
        throw new HashLimitError(503, retryAfterSeconds);
      }
      held.set(client, places + 1);
      try {
        await acquire();
        try {
          return await task();
        } finally {
          release();
        }
      } finally {
        const left = (held.get(client) ?? 1) - 1;
        if (left === 0) held.delete(client);
        else held.set(client, left);
      }
    },
  };
}
