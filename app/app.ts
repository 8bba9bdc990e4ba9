import type { IncomingMessage, Server } from "node:http";
import type { Socket } from "node:net";
import Fastify, {
  type FastifyHttpOptions,
  type FastifyInstance,
  type FastifyRequest,
  type FastifyServerOptions,
} from "fastify";
import { createSessionManager, type SessionStore } from "latchkey";
import { createCrossOriginCheck, crossOriginProtection, latchkey } from "latchkey/fastify";
import type { DestinationStream } from "pino";
import { createAccounts } from "./accounts.js";
import { type AnonymousLimitOptions, createAnonymousLimit } from "./anonymous-limit.js";
import { auditLogger } from "./audit-log.js";
import { clientIPOf, throttleKeyOf } from "./client-ip.js";
import type { Config } from "./config.js";
import { errorPages } from "./error-pages.js";
import { acceptOnlyForms } from "./form.js";
import { frameworkErrorOptions } from "./framework-errors.js";
import { createHashLimiter, type HashLimiterOptions } from "./hash-limiter.js";
import { createLoginThrottle, type LoginThrottleOptions } from "./login-throttle.js";
import { createPasswordHasher, type PasswordHasher } from "./passwords.js";
import { lazyChildLoggerFactory } from "./request-logger.js";
import { accountRoutes } from "./routes/account.js";
import { authRoutes } from "./routes/auth.js";
import type { AppContext } from "./routes/context.js";
import { homeRoutes } from "./routes/home.js";
import { sessionRoutes } from "./routes/sessions.js";
import { systemRoutes } from "./routes/system.js";
import { securityHeaders } from "./security-headers.js";
import { sessionFields } from "./session-types.js";
import { type AppStore, openCounters, openStore, warnIfNotDurable } from "./store.js";
import { monitorStore } from "./store-monitor.js";
import type { ThrottleCounters } from "./throttle/counters.js";
import { createMemoryCounters } from "./throttle/memory-counters.js";
import { errorPage } from "./views/errors.js";

export interface AppDeps {
  /** Use this store instead of the one the config selects. The app does not close a store it is given. */
  store?: AppStore;
  /**
   * The login throttle's counters, instead of those the config selects. The app does not close
   * counters it is given. With a memory `store` and no counters, the app uses memory counters of its
   * own; with another `store`, pass its counters too (the config's Redis is not the given store's).
   */
  counters?: ThrottleCounters;
  /** Password hashing (default: scrypt with N=2^15, r=8, p=1). */
  passwords?: PasswordHasher;
  /**
   * Login throttle limits (default per 15 minutes: 5 attempts per account from one client, 20 from one
   * client, past 100 per account one per 10 s; see login-throttle.ts).
   */
  throttle?: LoginThrottleOptions;
  /** Password hashing concurrency (default: 4 at once, 2 per client, 32 waiting; see hash-limiter.ts). */
  hashing?: HashLimiterOptions;
  /** Where log lines go (default: stdout). */
  logStream?: DestinationStream;
  /** Bounds on the anonymous sessions started for visitors (default: 20 per client, 2,000 in all, per 15 minutes). */
  anonymous?: AnonymousLimitOptions;
}

/** Longest path written to a log line: a client chooses it, and could fill the log with one request. */
const MAX_LOGGED_URL_LENGTH = 200;

/** Largest request body: the forms have two short fields. Bigger bodies get a 413 page. */
const BODY_LIMIT = 8 * 1024;

/**
 * The reference app: the tutorial's visit counter with accounts, built only on latchkey's public API.
 * The returned instance is not listening: call `listen()` or use `inject()`. Closing it closes the
 * store it opened.
 */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  let inMemory = config.store.kind === "memory";
  const options: FastifyHttpOptions<Server> = {
    logger: {
      level: config.logLevel,
      redact: {
        paths: ["req.headers.cookie", "req.headers.authorization", 'res.headers["set-cookie"]'],
        censor: "[redacted]",
      },
      serializers: {
        // The path only: a query string could carry anything a client put there.
        req: (request: FastifyRequest) => ({
          method: request.method,
          url: (request.url.split("?", 1)[0] ?? "").slice(0, MAX_LOGGED_URL_LENGTH),
          remoteAddress: clientIPOf(request),
        }),
      },
      ...(deps.logStream ? { stream: deps.logStream } : {}),
    },
    childLoggerFactory: lazyChildLoggerFactory,
    trustProxy: trustProxyOption(config.trustProxy),
    bodyLimit: BODY_LIMIT,
    // Slow and idle clients: the headers, the whole request and an idle keep-alive are each bounded,
    // and so is a connection's silence (connectionTimeout), so that drips cannot hold sockets for long.
    http: {
      // A request without a Host header gets the app's own 400 page (requireHost below), with the
      // security headers, instead of Node's bare 400.
      requireHostHeader: false,
      headersTimeout: config.http.headersTimeoutSeconds * 1000,
      // How often Node checks those deadlines (default 30 s, which would let a drip run that much over).
      connectionsCheckingInterval: Math.min(1000, (config.http.headersTimeoutSeconds * 1000) / 4),
    },
    requestTimeout: config.http.requestTimeoutSeconds * 1000,
    connectionTimeout: config.http.requestTimeoutSeconds * 1000,
    keepAliveTimeout: config.http.keepAliveTimeoutSeconds * 1000,
    // The store is opened below; the error pages only need to know whether it is in memory.
    ...frameworkErrorOptions(() => inMemory),
  };
  const app = Fastify(options);
  // Beyond this many open connections Node closes new ones at once, before reading a byte.
  app.server.maxConnections = config.http.maxConnections;
  // Behind a proxy every connection is the proxy's: the per-client share is then the proxy's to enforce.
  if (config.http.maxConnectionsPerClient > 0 && config.trustProxy === false) {
    capConnectionsPerClient(app.server, config.http.maxConnectionsPerClient);
  }
  closeSilentConnections(app.server, config.http.headersTimeoutSeconds * 1000);

  const store = deps.store ?? openStore(config.store, app.log);
  const counters = deps.counters ?? countersFor(deps.store, config, app.log);
  inMemory = store.kind === "memory";
  const sessions = createSessionManager({
    store,
    fields: sessionFields,
    idleTimeoutSeconds: config.idleTimeoutSeconds,
    absoluteTimeoutSeconds: config.absoluteTimeoutSeconds,
    // "Keep me signed in" gives a session SESSION_REMEMBER_TIMEOUT as its own lifetime.
    maxAbsoluteTimeoutSeconds: Math.max(config.rememberTimeoutSeconds, config.absoluteTimeoutSeconds),
    renewAfterSeconds: config.renewAfterSeconds,
    renewGraceSeconds: config.renewGraceSeconds,
    onEvent: auditLogger(app.log),
  });
  const context: AppContext = {
    config,
    sessions,
    accounts: createAccounts(store.records, deps.passwords ?? createPasswordHasher()),
    throttle: createLoginThrottle(counters, deps.throttle),
    hashLimiter: createHashLimiter(deps.hashing),
    anonymousLimit: createAnonymousLimit(deps.anonymous),
    inMemory: store.kind === "memory",
    isCrossOrigin: createCrossOriginCheck(),
  };

  if (config.trustProxy === true || typeof config.trustProxy === "number") {
    app.log.warn(
      { trustProxy: config.trustProxy },
      "TRUST_PROXY trusts whichever hosts connect: a client that reaches the app directly can choose its IP (defeating the per-IP limits); set TRUST_PROXY to the proxies' addresses or CIDR ranges",
    );
  }
  if (context.inMemory) {
    app.log.warn("sessions are kept in memory: they vanish on restart (set REDIS_URL or REDIS_CLUSTER_URL)");
  }
  const monitor = monitorStore(store, app.log, { counters });
  let closing = false;
  monitor.reachable
    .then(() => (closing ? undefined : warnIfNotDurable(store, app.log)))
    .catch((error: unknown) => app.log.debug({ err: error }, "persistence check failed"));
  app.addHook("onClose", async () => {
    closing = true;
    monitor.stop();
    await context.anonymousLimit.close();
    // Only what the app opened; the counters beside the store before it, as they were opened after.
    if (deps.counters === undefined) await counters.close?.();
    if (deps.store === undefined) await store.close();
  });

  // First of the onRequest hooks: a refusal by the next one (403) carries the headers too.
  securityHeaders(app);
  requireHost(app, () => inMemory);
  await app.register(crossOriginProtection);
  // No `anonymous: true`: a visitor's write (set, increment) never starts a session. The only anonymous
  // sessions are those a logout notice starts, bounded per client and in all (anonymous-limit.ts).
  await app.register(latchkey, { sessions });
  acceptOnlyForms(app);
  errorPages(app, context, monitor);

  homeRoutes(app, context);
  authRoutes(app, context);
  sessionRoutes(app, context);
  accountRoutes(app, context);
  systemRoutes(app, monitor, config.healthDetailsToken);
  return app;
}

/**
 * The counters the app opens itself: those the config selects, or, beside a given memory store,
 * memory counters. Beside a given Redis store the app cannot know where to count (the config may name
 * another Redis, or none), so it refuses to start rather than count somewhere else.
 */
function countersFor(
  givenStore: SessionStore | undefined,
  config: Config,
  log: FastifyInstance["log"],
): ThrottleCounters {
  if (givenStore === undefined) return openCounters(config.store, log);
  if (givenStore.kind === "memory") return createMemoryCounters();
  throw new Error(
    `buildApp: deps.store is a ${givenStore.kind} store: pass deps.counters too (createRedisCounters from app/throttle/redis-counters.ts, on the same Redis)`,
  );
}

/**
 * A hop count means "trust the n proxies nearest to us, whatever their addresses" (proxy-addr's
 * meaning). Fastify 5 treats a bare number as "trust nothing", so it is passed as a function.
 */
function trustProxyOption(trust: Config["trustProxy"]): FastifyServerOptions["trustProxy"] {
  if (typeof trust !== "number") return trust;
  return (_address: string, hop: number) => hop < trust;
}

/**
 * One client's share of the connection cap: a connection from a client (an IPv4 address, an IPv6 /64)
 * that already holds `max` open ones is closed at once, so that an address holding silent sockets
 * (closed only after HTTP_HEADERS_TIMEOUT) cannot fill `server.maxConnections` for everyone else.
 */
function capConnectionsPerClient(server: Server, max: number): void {
  const open = new Map<string, number>();
  server.on("connection", (socket: Socket) => {
    const client = throttleKeyOf(socket.remoteAddress ?? "");
    const count = (open.get(client) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(client, count);
    socket.once("close", () => {
      const left = (open.get(client) ?? 1) - 1;
      if (left === 0) open.delete(client);
      else open.set(client, left);
    });
  });
}

/**
 * HTTP/1.1 requires a Host header (RFC 9112, 3.2): a request without one gets the app's 400 page, with
 * the security headers (Node's own check, turned off above, answered a bare 400 without them).
 */
function requireHost(app: FastifyInstance, inMemory: () => boolean): void {
  app.addHook("onRequest", (request, reply, done) => {
    if (request.headers.host !== undefined || request.raw.httpVersion === "1.0") {
      done();
      return;
    }
    reply
      .code(400)
      .header("cache-control", "no-store")
      .header("connection", "close")
      .type("text/html; charset=utf-8")
      .send(errorPage({ username: null, inMemory: inMemory() }, 400).toString());
  });
}

/**
 * Node's headersTimeout starts with a connection's first byte, and its socket timeout did not fire for a
 * connection that never sent one (measured on Node 20): such a connection would stay open for ever.
 * Close it when nothing arrived within the headers timeout.
 */
function closeSilentConnections(server: Server, timeoutMs: number): void {
  // Cleared by the connection's first request: the HTTP parser reads the socket itself, so no 'data'.
  const timers = new WeakMap<Socket, NodeJS.Timeout>();
  server.on("connection", (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    timer.unref();
    timers.set(socket, timer);
    socket.once("close", () => clearTimeout(timer));
  });
  server.on("request", (request: IncomingMessage) => {
    clearTimeout(timers.get(request.socket));
    timers.delete(request.socket);
  });
}
