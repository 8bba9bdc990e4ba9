import type { FastifyBaseLogger } from "fastify";
import type { SessionStore } from "latchkey";
import { createMemoryStore } from "latchkey/memory";
import { createRedisStore } from "latchkey/redis";
import type { StoreConfig } from "./config.js";

/**
 * Store selection and start-up connection.
 *
 * Choice: when Redis is unreachable at start, the HTTP server starts anyway. Until the store answers,
 * pages that need it answer 503 "Service temporarily unavailable" (each store command times out after
 * one second) and /healthz answers 503, so a load balancer keeps traffic away; meanwhile the app pings
 * the store with exponential backoff, logging every failure with its reason, and logs once it answers.
 * ioredis keeps reconnecting on its own afterwards, so later outages heal the same way.
 */
export function openStore(config: StoreConfig, log: FastifyBaseLogger): SessionStore {
  switch (config.kind) {
    case "memory":
      return createMemoryStore();
    case "redis":
      return createRedisStore({ url: config.url, onError: connectionLogger(log) });
    case "redis-cluster":
      return createRedisStore({ clusterNodes: config.nodes, onError: connectionLogger(log) });
  }
}

/** Logs background reconnection errors, at most one per distinct message per 10 seconds. */
function connectionLogger(log: FastifyBaseLogger): (error: Error) => void {
  const lastLogged = new Map<string, number>();
  return (error) => {
    const now = Date.now();
    if ((lastLogged.get(error.message) ?? 0) > now - 10_000) return;
    lastLogged.set(error.message, now);
    log.warn({ reason: reasonOf(error) }, "session store connection error");
  };
}

export interface StoreWatch {
  /** Resolves when the store first answers a ping (never rejects). */
  readonly reachable: Promise<void>;
  stop(): void;
}

export interface WatchOptions {
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/** Pings the store until it answers, with exponential backoff; logs each failure and the success. */
export function watchStore(
  store: SessionStore,
  log: FastifyBaseLogger,
  options: WatchOptions = {},
): StoreWatch {
  const { firstDelayMs = 250, maxDelayMs = 5000 } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
      timer.unref();
    });

  const reachable = (async () => {
    for (
      let attempt = 1, delay = firstDelayMs;
      !stopped;
      attempt++, delay = Math.min(delay * 2, maxDelayMs)
    ) {
      try {
        await store.ping();
        if (!stopped) log.info({ store: store.kind, attempt }, "session store reachable");
        return;
      } catch (error) {
        if (stopped) return;
        log.warn(
          { store: store.kind, attempt, retryInMs: delay, reason: reasonOf(error) },
          "session store unreachable, retrying",
        );
      }
      await sleep(delay);
    }
  })();

  return {
    reachable,
    stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
    },
  };
}

/** The error's message and its causes' messages: host and port, never credentials. */
export function reasonOf(error: unknown): string {
  let reason = "";
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    // Messages often quote their cause already: add a cause only when it says something new.
    if (!reason.includes(e.message)) reason = reason === "" ? e.message : `${reason}: ${e.message}`;
  }
  return reason || String(error);
}
