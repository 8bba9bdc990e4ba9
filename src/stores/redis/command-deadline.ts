/**
 * The one owner of the command deadline: every Redis call of a store, on either client library, is
 * bounded here, and the drivers only pass the signal on (node-redis takes a command that is not yet
 * written out of its queue when the signal aborts, so a call reported as failed cannot run later).
 *
 * Calls are bounded in batches rather than one by one: the calls that start within one tick (a
 * twentieth of the timeout, 10-50 ms) share one AbortController and one timer, which fires `timeoutMs
 * + tick` after the batch opened. So each call gets between `timeoutMs` and `timeoutMs + tick` (never
 * less: a WAIT of up to `timeoutMs - 1` always gets its time), and a page view pays for a set entry,
 * not for a timer, a controller and an abort listener of its own: those cost node-redis a third of its
 * throughput when made per call (issue 21's measurement).
 */

/** A call that got no reply within the command timeout. */
export class CommandTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no reply within ${timeoutMs} ms`);
    this.name = "CommandTimeoutError";
  }
}

export interface CommandDeadline {
  /**
   * Runs `call` with the signal of the current batch, and settles as it does, or rejects with a
   * CommandTimeoutError (and aborts the signal) when the batch's time is up.
   */
  bound<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

interface Batch {
  readonly controller: AbortController;
  /** The rejections of the batch's calls still in flight. */
  readonly pending: Set<(error: Error) => void>;
  /** Until when (performance.now()) new calls join this batch. */
  readonly openUntil: number;
  /** Ref'd only while calls are pending: an unanswered call keeps the process alive, an idle batch not. */
  readonly timer: NodeJS.Timeout;
}

export function createCommandDeadline(timeoutMs: number): CommandDeadline {
  const tick = Math.min(50, Math.max(10, Math.ceil(timeoutMs / 20)));
  let open: Batch | undefined;

  const expire = (batch: Batch): void => {
    // Rejected before the abort, so that node-redis's AbortError for a queued command finds the call
    // already settled with the timeout, which says more.
    const error = new CommandTimeoutError(timeoutMs);
    for (const reject of batch.pending) reject(error);
    batch.pending.clear();
    batch.controller.abort(error);
  };

  const current = (): Batch => {
    const now = performance.now();
    if (open !== undefined && now < open.openUntil) return open;
    const pending = new Set<(error: Error) => void>();
    const controller = new AbortController();
    const timer = setTimeout(() => expire(batch), timeoutMs + tick);
    const batch: Batch = { controller, pending, openUntil: now + tick, timer };
    open = batch;
    return batch;
  };

  return {
    bound<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
      const batch = current();
      return new Promise<T>((resolve, reject) => {
        const { pending, timer } = batch;
        pending.add(reject);
        if (pending.size === 1) timer.ref();
        const done = (): boolean => {
          if (!pending.delete(reject)) return false; // the deadline came first
          if (pending.size === 0) timer.unref();
          return true;
        };
        const settle = (value: T): void => {
          if (done()) resolve(value);
        };
        const fail = (error: unknown): void => {
          if (done()) reject(error);
        };
        try {
          call(batch.controller.signal).then(settle, fail);
        } catch (error) {
          fail(error);
        }
      });
    },
  };
}
