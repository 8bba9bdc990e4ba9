import { LatchkeyError } from "./errors.js";
import {
  eventChannels,
  type LoadMissReason,
  loadedChannel,
  type SessionEvent,
  type StoreOperation,
  storeCallChannel,
} from "./session-events.js";

/**
 * The manager's side of its events (`session-events.ts`): whether anyone listens, publishing to the
 * channels and `onEvent`, and timing store calls. Every method checks for a listener first, so that a
 * manager nobody observes builds no payload and reads no clock.
 */
export interface SessionObserver {
  /** Whether an event of `type` has a listener: build its payload only then. */
  wants(type: SessionEvent["type"]): boolean;
  /** Publishes an event on its channel and to `onEvent` (whose exceptions are ignored). */
  emit(event: SessionEvent): void;
  /** Whether a load must be observed. Checked on every load: only flags and subscriber checks. */
  observingLoads(): boolean;
  /** Runs a store call, timing it and publishing its outcome (and a failure) when someone listens. */
  timed<T>(operation: StoreOperation, call: () => Promise<T>): Promise<T>;
  /** Publishes a load's result: found, or why not (with the public id the token would have had). */
  loaded(result: "found" | LoadMissReason, publicId: string | null): void;
}

export function createSessionObserver(
  storeKind: string,
  onEvent: ((event: SessionEvent) => void) | undefined,
): SessionObserver {
  const wants = (type: SessionEvent["type"]): boolean =>
    onEvent !== undefined || eventChannels[type].hasSubscribers;
  const emit = (event: SessionEvent): void => {
    const events = eventChannels[event.type];
    if (events.hasSubscribers) events.publish(event);
    if (onEvent === undefined) return;
    try {
      onEvent(event);
    } catch {
      // An observer's bug must not fail the session call it observes.
    }
  };
  return {
    wants,
    emit,
    observingLoads: () =>
      onEvent !== undefined ||
      loadedChannel.hasSubscribers ||
      storeCallChannel.hasSubscribers ||
      eventChannels.load_missed.hasSubscribers ||
      eventChannels.store_failed.hasSubscribers,
    timed(operation, call) {
      const timing = storeCallChannel.hasSubscribers;
      if (!timing && !wants("store_failed")) return call();
      const started = performance.now();
      const done = (outcome: string): number => {
        const durationMs = performance.now() - started;
        if (timing) storeCallChannel.publish({ operation, store: storeKind, durationMs, outcome });
        return durationMs;
      };
      return call().then(
        (result) => {
          done("ok");
          return result;
        },
        (error: unknown) => {
          const code = codeOf(error);
          const durationMs = done(code);
          if (wants("store_failed")) {
            const message = error instanceof Error ? error.message : String(error);
            emit({ type: "store_failed", operation, durationMs, code, message });
          }
          throw error;
        },
      );
    },
    loaded(result, publicId) {
      if (loadedChannel.hasSubscribers) loadedChannel.publish({ result });
      if (result !== "found" && wants("load_missed")) emit({ type: "load_missed", reason: result, publicId });
    },
  };
}

/** The latchkey code of a failed call's error, for events and metrics. */
function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof LatchkeyError && typeof code === "string" ? code : "UNKNOWN";
}
