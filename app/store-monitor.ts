import type { FastifyBaseLogger } from "fastify";
import type { SessionStore, StoreHealth } from "latchkey";
import { reasonOf } from "./store.js";
import type { ThrottleCounters } from "./throttle/counters.js";

/**
 * Watches the store's health and logs an outage once: one error line when it starts (what happened),
 * one line when it ends (how long it lasted), a warning when what fails changes meanwhile, never a
 * line per request. Requests that fail only report it (`reportFailure`), which checks the store once;
 * while the store is not "ok" a background check runs with backoff (250 ms doubling to 5 s) until it
 * is. `/healthz` answers with `check()`, so a load balancer's polls feed the same state.
 *
 * The login throttle's counters (`counters`, on a connection of their own) are checked with the store:
 * when they do not answer while the store does, the store is "degraded" (pages are served, logins and
 * sign-ups fail with 503, as on a full Redis), and the problem says it is the counters.
 */
export interface StoreMonitor {
  /** Resolves when the store first answers, "ok" or "degraded" (never rejects). */
  readonly reachable: Promise<void>;
  /** Checks the store now (callers at the same moment share one check) and logs a change of state. */
  check(): Promise<StoreHealth>;
  /** A store call failed: check the store once, unless an outage is already being watched. */
  reportFailure(error: unknown): void;
  stop(): void;
}

export interface StoreMonitorOptions {
  firstDelayMs?: number;
  maxDelayMs?: number;
  /** The login throttle's counters, checked with the store when they can fail (`ping`). */
  counters?: ThrottleCounters;
}

/** A call that fails while the store answers checks is logged at most this often. */
const TRANSIENT_LOG_INTERVAL_MS = 10_000;

export function monitorStore(
  store: SessionStore,
  log: FastifyBaseLogger,
  options: StoreMonitorOptions = {},
): StoreMonitor {
  const { firstDelayMs = 250, maxDelayMs = 5000, counters } = options;
  let stopped = false;
  let started = false;
  /** The last status seen: undefined before the first check. */
  let status: StoreHealth["status"] | undefined;
  let outageSince: number | undefined;
  /** The reasons already logged in this outage: each is logged once. */
  let logged = new Set<string>();
  let inFlight: Promise<StoreHealth> | undefined;
  let watching = false;
  let lastTransientLog = 0;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
      timer.unref();
    });

  /** The counters' problem, or undefined when they answer (or cannot fail). */
  const probeCounters = async (): Promise<string | undefined> => {
    if (!counters?.ping) return undefined;
    try {
      await counters.ping();
      return undefined;
    } catch (error) {
      return `login throttle counters: ${reasonOf(error)}`;
    }
  };

  const probe = async (): Promise<StoreHealth> => {
    const [health, countersProblem] = await Promise.all([probeStore(), probeCounters()]);
    if (countersProblem === undefined) return health;
    return {
      ...health,
      status: health.status === "ok" ? "degraded" : health.status,
      problems: [...health.problems, countersProblem],
    };
  };

  const probeStore = async (): Promise<StoreHealth> => {
    if (store.health) {
      try {
        return await store.health();
      } catch (error) {
        return { status: "down", kind: store.kind, problems: [reasonOf(error)] };
      }
    }
    try {
      await store.ping();
      return { status: "ok", kind: store.kind, problems: [] };
    } catch (error) {
      return { status: "down", kind: store.kind, problems: [reasonOf(error)] };
    }
  };

  let markReachable: () => void = () => {};
  const reachable = new Promise<void>((resolve) => {
    markReachable = resolve;
  });

  /** Logs what changed between the last status and this one. */
  const observe = (health: StoreHealth): void => {
    if (stopped) return;
    const previous = status;
    status = health.status;
    const reason = health.problems.join("; ");
    const fields = { store: health.kind, status: health.status, reason };
    if (health.status !== "down") markReachable();
    if (health.status === "ok") {
      if (previous === "ok") return;
      if (!started) {
        started = true;
        const waited = outageSince === undefined ? {} : { unreachableForMs: Date.now() - outageSince };
        log.info({ store: health.kind, ...waited }, "session store reachable");
      } else if (outageSince !== undefined) {
        const outageMs = Date.now() - outageSince;
        log.warn(
          { store: health.kind, outageMs },
          `session store recovered after ${formatDuration(outageMs)}`,
        );
      }
      outageSince = undefined;
      logged = new Set();
      return;
    }
    // Degraded: part of a Cluster fails while the rest serves, or a full Redis serves views but
    // refuses new sessions; the problems say which.
    const what = health.status === "down" ? "down" : "degraded (some of it still serves)";
    if (previous === "ok" || previous === undefined) {
      outageSince = Date.now();
      logged = new Set([reason]);
      if (started) {
        log.error(fields, `session store ${what}: ${reason}`);
      } else {
        const atStart = health.status === "down" ? "unreachable" : "degraded";
        log.error(fields, `session store ${atStart} at start (retrying in the background): ${reason}`);
        if (health.status === "degraded") started = true;
      }
      return;
    }
    if (previous === "degraded" && health.status === "down") {
      logged.add(reason);
      log.error(fields, `session store down: ${reason}`);
      return;
    }
    if (previous !== health.status || !logged.has(reason)) {
      logged.add(reason);
      log.warn(fields, `session store still ${what}: ${reason}`);
    }
  };

  const check = (): Promise<StoreHealth> => {
    inFlight ??= probe().then((health) => {
      inFlight = undefined;
      observe(health);
      if (health.status !== "ok") watch();
      return health;
    });
    return inFlight;
  };

  /** Checks with backoff until the store is "ok" again. */
  const watch = (): void => {
    if (watching || stopped) return;
    watching = true;
    void (async () => {
      for (let delay = firstDelayMs; !stopped && status !== "ok"; delay = Math.min(delay * 2, maxDelayMs)) {
        log.debug({ store: store.kind, status, retryInMs: delay }, "session store not ok, checking again");
        await sleep(delay);
        if (!stopped) await check();
      }
      watching = false;
    })();
  };

  void check();

  return {
    reachable,
    check,
    reportFailure(error) {
      if (stopped || status !== "ok" || inFlight !== undefined) return;
      void check().then((health) => {
        const now = Date.now();
        if (health.status !== "ok" || now - lastTransientLog < TRANSIENT_LOG_INTERVAL_MS) return;
        lastTransientLog = now;
        log.warn(
          { store: store.kind, reason: reasonOf(error) },
          "a session store call failed, but the store answers checks",
        );
      });
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      markReachable();
    },
  };
}

function formatDuration(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
