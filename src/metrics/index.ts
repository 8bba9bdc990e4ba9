/**
 * `latchkey/metrics`: the session manager's events as OpenTelemetry metrics. It subscribes to
 * latchkey's diagnostics channels (so the engine never imports OpenTelemetry, and costs nothing
 * until this is called) and records, per OpenTelemetry's naming conventions:
 *
 * | instrument | kind | unit | attributes | in Prometheus |
 * | --- | --- | --- | --- | --- |
 * | `latchkey.session.created` | counter | `{session}` | `latchkey.session.kind` (user, anonymous) | `latchkey_session_created_total` |
 * | `latchkey.session.destroyed` | counter | `{session}` | `latchkey.session.end_reason` | `latchkey_session_destroyed_total` |
 * | `latchkey.session.token_changed` | counter | `{token}` | `latchkey.token.change` (rotated, renewed) | `latchkey_session_token_changed_total` |
 * | `latchkey.session.load` | counter | `{load}` | `latchkey.load.result` (found, unknown, expired, malformed) | `latchkey_session_load_total` |
 * | `latchkey.store.duration` | histogram | `s` | `latchkey.store.operation`, `latchkey.store.kind`, `error.type` on failure | `latchkey_store_duration_seconds_bucket` ... |
 *
 * `@opentelemetry/api` is an optional peer: pass your own `meter`, or install it and the meter is
 * `metrics.getMeter("latchkey")` of the global provider.
 * @module
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { createRequire } from "node:module";
import { InvalidOptionError } from "../core/errors.js";
import {
  CHANNELS,
  type SessionCreatedEvent,
  type SessionDestroyedEvent,
  type SessionLoadedMessage,
  type SessionPromotedEvent,
  type StoreCallMessage,
} from "../core/session-events.js";

type Attributes = Record<string, string>;

/** The part of an OpenTelemetry `Meter` this uses (`@opentelemetry/api`'s `Meter` satisfies it). */
export interface MeterLike {
  createCounter(
    name: string,
    options?: { description?: string; unit?: string },
  ): { add(value: number, attributes?: Attributes): void };
  createHistogram(
    name: string,
    options?: { description?: string; unit?: string; advice?: { explicitBucketBoundaries?: number[] } },
  ): { record(value: number, attributes?: Attributes): void };
}

export interface InstrumentSessionsOptions {
  /** The meter to record on. Default: `metrics.getMeter("latchkey")` from `@opentelemetry/api`. */
  meter?: MeterLike;
}

export interface SessionInstrumentation {
  /** Unsubscribes: nothing is recorded after it. */
  stop(): void;
}

/**
 * Store call durations, in seconds: a Redis round trip takes 0.1-2 ms on one network, a failover or
 * a timeout up to seconds.
 */
export const STORE_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

const require = createRequire(import.meta.url);

/** The global meter of `@opentelemetry/api`, or an InvalidOptionError naming `meter`. */
function defaultMeter(): MeterLike {
  let api: { metrics: { getMeter(name: string): MeterLike } };
  try {
    api = require("@opentelemetry/api") as typeof api;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== "MODULE_NOT_FOUND") throw error;
    throw new InvalidOptionError(
      "meter",
      "is required when @opentelemetry/api is not installed (npm install @opentelemetry/api)",
    );
  }
  return api.metrics.getMeter("latchkey");
}

/**
 * Records the metrics of every session manager in this process (see the module's table) until
 * `stop()`.
 *
 * @example
 * import { metrics } from "@opentelemetry/api";
 * const instrumentation = instrumentSessions({ meter: metrics.getMeter("my-app") });
 * // ... at shutdown:
 * instrumentation.stop();
 */
export function instrumentSessions(options: InstrumentSessionsOptions = {}): SessionInstrumentation {
  const meter = options.meter ?? defaultMeter();
  if (typeof meter?.createCounter !== "function" || typeof meter.createHistogram !== "function") {
    throw new InvalidOptionError("meter", "must be an OpenTelemetry Meter");
  }
  const created = meter.createCounter("latchkey.session.created", {
    description: "Sessions created (logins, promotions and anonymous sessions)",
    unit: "{session}",
  });
  const destroyed = meter.createCounter("latchkey.session.destroyed", {
    description:
      "Sessions ended, by reason (logout, by_id, per_user, over_cap, idle_expiry, absolute_expiry)",
    unit: "{session}",
  });
  const tokenChanges = meter.createCounter("latchkey.session.token_changed", {
    description: "Session tokens replaced: by rotate(), or by renewal (renewAfterSeconds)",
    unit: "{token}",
  });
  const loads = meter.createCounter("latchkey.session.load", {
    description: "Session loads (one per request that presents a token), by result",
    unit: "{load}",
  });
  const duration = meter.createHistogram("latchkey.store.duration", {
    description: "Duration of session store calls, by operation",
    unit: "s",
    advice: { explicitBucketBoundaries: STORE_DURATION_BUCKETS },
  });

  const listeners: [string, (message: unknown) => void][] = [
    [
      CHANNELS.created,
      (message) => {
        const { userId } = message as SessionCreatedEvent;
        created.add(1, { "latchkey.session.kind": userId === null ? "anonymous" : "user" });
      },
    ],
    [
      CHANNELS.promoted,
      (message) => {
        if ((message as SessionPromotedEvent).type !== "promoted") return;
        created.add(1, { "latchkey.session.kind": "user" });
      },
    ],
    [
      CHANNELS.destroyed,
      (message) => {
        const { reason, count } = message as SessionDestroyedEvent;
        destroyed.add(count, { "latchkey.session.end_reason": reason });
      },
    ],
    [CHANNELS.rotated, () => tokenChanges.add(1, { "latchkey.token.change": "rotated" })],
    [CHANNELS.renewed, () => tokenChanges.add(1, { "latchkey.token.change": "renewed" })],
    [
      CHANNELS.loaded,
      (message) => {
        loads.add(1, { "latchkey.load.result": (message as SessionLoadedMessage).result });
      },
    ],
    [
      CHANNELS.storeCall,
      (message) => {
        const call = message as StoreCallMessage;
        const attributes: Attributes = {
          "latchkey.store.operation": call.operation,
          "latchkey.store.kind": call.store,
        };
        if (call.outcome !== "ok") attributes["error.type"] = call.outcome;
        duration.record(call.durationMs / 1000, attributes);
      },
    ],
  ];
  for (const [name, listener] of listeners) subscribe(name, listener);
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      for (const [name, listener] of listeners) unsubscribe(name, listener);
    },
  };
}
