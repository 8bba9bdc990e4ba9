import type { FastifyBaseLogger } from "fastify";
import type { RecordStore, SessionStore } from "latchkey";
import { createMemoryStore } from "latchkey/memory";
import { createRedisStore } from "latchkey/redis";
import type { StoreConfig } from "./config.js";
import type { ThrottleCounters } from "./throttle/counters.js";
import { createMemoryCounters } from "./throttle/memory-counters.js";
import { createRedisCounters } from "./throttle/redis-counters.js";

/** The store the app needs: sessions, and records for its accounts (the memory and Redis stores have both). */
export type AppStore = SessionStore & { readonly records: RecordStore };

/**
 * Store selection.
 *
 * Choice: when Redis is unreachable at start, the HTTP server starts anyway. Until the store answers,
 * pages that need it answer 503 "Service temporarily unavailable" (each store command times out after
 * one second) and /healthz answers 503, so a load balancer keeps traffic away; meanwhile the store
 * monitor (`store-monitor.ts`) checks it with exponential backoff and logs once when it answers.
 * ioredis keeps reconnecting on its own afterwards, so later outages heal the same way.
 */
export function openStore(config: StoreConfig, log: FastifyBaseLogger): AppStore {
  switch (config.kind) {
    case "memory":
      return createMemoryStore();
    case "redis":
      return createRedisStore({
        url: config.url,
        onError: connectionLogger(log),
        ...(config.waitForReplicas === undefined ? {} : { waitForReplicas: config.waitForReplicas }),
      });
    case "redis-cluster":
      return createRedisStore({ clusterNodes: config.nodes, onError: connectionLogger(log) });
  }
}

/** What the counters' connection errors are logged as. */
const COUNTERS = "login throttle counters";

/**
 * The login throttle's counters beside the store, from the same configuration: in memory with the
 * memory store, else on the same Redis (or Cluster) over a connection of their own, with the store's
 * bounds (1 s per call, failing at once while the connection is down: a 503 like the store's).
 *
 * `waitForReplicas` does not apply to them: a counter lost in a failover loosens the throttle for
 * one window at most, which is not worth a second round trip (WAIT) on every login attempt; the
 * accounts and sessions, which must survive a failover, are the store's and still wait.
 */
export function openCounters(config: StoreConfig, log: FastifyBaseLogger): ThrottleCounters {
  switch (config.kind) {
    case "memory":
      return createMemoryCounters();
    case "redis":
      return createRedisCounters({ url: config.url, onError: connectionLogger(log, COUNTERS) });
    case "redis-cluster":
      return createRedisCounters({ clusterNodes: config.nodes, onError: connectionLogger(log, COUNTERS) });
  }
}

/**
 * Logs background reconnection errors at debug, at most one per distinct message per 10 seconds: an
 * outage is logged once by the store monitor (`store-monitor.ts`), with what these errors meant.
 */
function connectionLogger(log: FastifyBaseLogger, what = "session store"): (error: Error) => void {
  const lastLogged = new Map<string, number>();
  return (error) => {
    const now = Date.now();
    if ((lastLogged.get(error.message) ?? 0) > now - 10_000) return;
    lastLogged.set(error.message, now);
    log.debug({ reason: reasonOf(error) }, `${what} connection error`);
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

/**
 * Warns once at start when Redis keeps no persistence (no RDB save points and AOF off, from INFO
 * persistence and CONFIG GET save): a restart then loses every account and session, and the login
 * throttles with them. Where the server does not say (CONFIG refused, as on ElastiCache, whose backups
 * live outside Redis), logs that at info. The app starts either way.
 */
export async function warnIfNotDurable(store: SessionStore, log: FastifyBaseLogger): Promise<void> {
  if (!store.persistence) return;
  const persistence = await store.persistence();
  if (persistence.durable === false) {
    const servers = persistence.nodes
      .filter((node) => node.aof === false && node.rdb === false)
      .map((node) => node.address);
    log.warn(
      { store: store.kind, servers },
      "Redis keeps no persistence (no RDB save points, AOF off): every account, session and login throttle is lost when it restarts; run it with appendonly yes or save points (ElastiCache: backups, Multi-AZ with replicas)",
    );
  } else if (persistence.durable === true) {
    const servers = persistence.nodes.map((node) => ({
      address: node.address,
      aof: node.aof,
      rdb: node.rdb,
    }));
    log.info({ store: store.kind, servers }, "Redis persists its data (AOF or RDB)");
  } else {
    const problems = persistence.nodes.flatMap((node) =>
      node.problem ? [`${node.address}: ${node.problem}`] : [],
    );
    log.info(
      { store: store.kind, reason: problems.join("; ") },
      "could not tell whether Redis persists its data: make sure it runs with AOF or RDB snapshots (ElastiCache: backups)",
    );
  }
}
