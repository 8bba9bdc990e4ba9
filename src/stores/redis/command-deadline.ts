/**
 * The one owner of the command deadline: every Redis call of a store, on either client library, is
 * bounded here, and the drivers only pass its signal on (node-redis takes a command that is not yet
 * written out of its queue when the signal aborts, so a call reported as failed cannot run later).
 *
 * Calls are bounded in batches rather than one by one: the calls that start within one tick (a
 * twentieth of the timeout, 10-50 ms) share one timer, which fires `timeoutMs + tick` after the batch
 * opened, and one AbortSignal, made only when a driver asks for it (ioredis cannot withdraw a command
 * and never does). So each call gets between `timeoutMs` and `timeoutMs + tick` (never less: a WAIT of
 * up to `timeoutMs - 1` always gets its time), and a page view pays for a set entry, not for a timer,
 * an AbortController and an abort listener of its own (per call they cost node-redis a third of its
 * throughput, issue 21's measurement; made even once per batch, an AbortController that nobody used
 * cost the ioredis page view about 10,000 instructions under callgrind).
 */

import { setMaxListeners } from "node:events";

/** A call that got no reply within the command timeout. */
export class CommandTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no reply within ${timeoutMs} ms`);
    this.name = "CommandTimeoutError";
  }
}

/** What a call knows of its deadline: the signal that aborts when it is up (made on first use). */
export interface Deadline {
  readonly signal: AbortSignal;
}

export interface CommandDeadline {
  /**
   * Runs `call` with the current batch's deadline, and settles as it does, or rejects with a
   * CommandTimeoutError (and aborts the signal) when the batch's time is up.
   */
  bound<T>(call: (deadline: Deadline) => Promise<T>): Promise<T>;
}

class Batch implements Deadline {
  /** The rejections of the batch's calls still in flight. */
  readonly pending = new Set<(error: Error) => void>();
  readonly timer: NodeJS.Timeout;
  #controller: AbortController | undefined;

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

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      // node-redis adds an abort listener per queued command, and a batch's calls share the signal:
      // without this, the 11th in flight prints a MaxListenersExceededWarning in the user's app.
      setMaxListeners(0, this.#controller.signal);
    }
    return this.#controller.signal;
  }

  #expire(timeoutMs: number): void {
    // A batch whose calls all answered (nearly every one) costs nothing more.
    if (this.pending.size === 0) return;
    // Rejected before the abort, so that node-redis's AbortError for a queued command finds the call
    // already settled with the timeout, which says more.
    const error = new CommandTimeoutError(timeoutMs);
    for (const reject of this.pending) reject(error);
    this.pending.clear();
    this.#controller?.abort(error);
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
    bound<T>(call: (deadline: Deadline) => Promise<T>): Promise<T> {
      const batch = current();
      return new Promise<T>((resolve, reject) => {
        const { pending } = batch;
        pending.add(reject);
        // False when the deadline came first.
        const done = (): boolean => pending.delete(reject);
        try {
          call(batch).then(
            (value) => {
              if (done()) resolve(value);
            },
            (error: unknown) => {
              if (done()) reject(error);
            },
          );
        } catch (error) {
          if (done()) reject(error);
        }
      });
    },
  };
}
