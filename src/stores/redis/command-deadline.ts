/**
 * The one owner of the command deadline: every Redis call of a store, on either client library, is
 * bounded here, and the drivers only pass its signal on (node-redis takes a command that is not yet
 * written out of its queue when the signal aborts, so a call reported as failed cannot run later).
 *
 * Calls are bounded in batches rather than one by one: the calls that start within one tick (a
 * twentieth of the timeout, 10-50 ms) share one timer, which fires `timeoutMs + tick` after the batch
 * opened, and one signal, made only when a driver asks for it (ioredis cannot withdraw a command and
 * never does). So each call gets between `timeoutMs` and `timeoutMs + tick` (never less: a WAIT of up
 * to `timeoutMs - 1` always gets its time), and a page view pays for a set entry, not for a timer of
 * its own (per call, a timer and an AbortController cost node-redis a third of its throughput, issue
 * 21's measurement).
 *
 * The signal is a `DeadlineSignal`, not an AbortSignal: node-redis uses only `aborted` and
 * `add/removeEventListener("abort")` of the signal it is given (v5 and v6 alike), once per command, and
 * on an AbortSignal those two go through EventTarget, which cost node-redis about 17,000 instructions
 * per call under callgrind (a store call on node-redis: 117,700 with an AbortSignal; see
 * docs/benchmark.md). A set of listeners does the same for a few hundred.
 */

export class CommandTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no reply within ${timeoutMs} ms`);
    this.name = "CommandTimeoutError";
  }
}

/**
 * The part of AbortSignal a client library needs to withdraw a queued command: whether the deadline
 * passed, and listeners called (once) when it does. Passed to node-redis as its `abortSignal`.
 */
export interface DeadlineSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** What a call knows of its deadline: the signal that aborts when it is up (made on first use). */
export interface Deadline {
  readonly signal: DeadlineSignal;
}

/** A DeadlineSignal: its listeners in a set, each called once when the batch's time is up. */
class BatchSignal implements DeadlineSignal {
  aborted = false;
  #listeners = new Set<() => void>();

  addEventListener(_type: "abort", listener: () => void): void {
    if (this.aborted) return;
    this.#listeners.add(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    this.#listeners.delete(listener);
  }

  abort(): void {
    this.aborted = true;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) listener();
  }
}

export interface CommandDeadline {
  /**
   * Runs `call` with the current batch's deadline, and settles as it does, or rejects with a
   * CommandTimeoutError (and aborts the signal) when the batch's time is up. `onValue` maps the value
   * and `onError` the error (the timeout's too) on the way out: one promise per call, where a `then`
   * after the bound call would add another to every page view.
   */
  bound<T, R = T>(
    call: (deadline: Deadline) => Promise<T>,
    onValue?: (value: T) => R,
    onError?: (error: unknown) => unknown,
  ): Promise<R>;
}

class Batch implements Deadline {
  /** The rejections of the batch's calls still in flight. */
  readonly pending = new Set<(error: Error) => void>();
  readonly timer: NodeJS.Timeout;
  #signal: BatchSignal | undefined;

  constructor(
    /** Until when (performance.now()) new calls join this batch. */
    readonly openUntil: number,
    timeoutMs: number,
    tick: number,
  ) {
    // Unref'd: a call in flight has a connection (or a reconnect timer) that keeps the process alive;
    // the deadline alone should not hold a process that has nothing left to do for a second. Toggling
    // ref() and unref() with each call instead cost about 1,300 instructions per page view.
    this.timer = setTimeout(() => this.#expire(timeoutMs), timeoutMs + tick).unref();
  }

  get signal(): DeadlineSignal {
    this.#signal ??= new BatchSignal();
    return this.#signal;
  }

  #expire(timeoutMs: number): void {
    // A batch whose calls all answered (nearly every one) costs nothing more.
    if (this.pending.size === 0) return;
    // Rejected before the abort, so that node-redis's AbortError for a queued command finds the call
    // already settled with the timeout, which says more.
    const error = new CommandTimeoutError(timeoutMs);
    for (const reject of this.pending) reject(error);
    this.pending.clear();
    this.#signal?.abort();
  }
}

export function createCommandDeadline(timeoutMs: number): CommandDeadline {
  const tick = Math.min(50, Math.max(10, Math.ceil(timeoutMs / 20)));
  let open: Batch | undefined;

  const current = (): Batch => {
    const now = performance.now();
    if (open !== undefined && now < open.openUntil) return open;
    open = new Batch(now + tick, timeoutMs, tick);
    return open;
  };

  return {
    bound<T, R = T>(
      call: (deadline: Deadline) => Promise<T>,
      onValue?: (value: T) => R,
      onError?: (error: unknown) => unknown,
    ): Promise<R> {
      const batch = current();
      return new Promise<R>((resolve, reject) => {
        const { pending } = batch;
        const fail = onError === undefined ? reject : (error: unknown) => reject(onError(error));
        pending.add(fail);
        // False when the deadline came first.
        const done = (): boolean => pending.delete(fail);
        try {
          call(batch).then(
            (value) => {
              if (!done()) return;
              if (onValue === undefined) {
                resolve(value as unknown as R);
                return;
              }
              try {
                resolve(onValue(value));
              } catch (error) {
                reject(error);
              }
            },
            (error: unknown) => {
              if (done()) fail(error);
            },
          );
        } catch (error) {
          if (done()) fail(error);
        }
      });
    },
  };
}
