import type { Cluster, Redis } from "ioredis";
import { InvalidArgumentError, UnsupportedOperationError } from "../../core/errors.js";
import type { SessionStore, StoredSession } from "../../core/session-store.js";
import { createCommandRunner } from "./command-runner.js";
import type { RedisDriver } from "./driver.js";
import { ioredisClientDriver, openIoredisDriver } from "./ioredis-driver.js";
import { keyLayout } from "./keys.js";
import { nodeRedisDriver } from "./node-redis-driver.js";
import { createRedisRecords } from "./redis-records.js";
import {
  type RedisStoreOptions,
  type ResolvedRedisStoreOptions,
  resolveRedisStoreOptions,
} from "./redis-store-options.js";
import { storeScripts } from "./scripts.js";
import { assertUserField, sessionFromHash, sessionToHash } from "./session-hash.js";

/** Most ids removed from an index by one script call: Redis runs one script at a time. */
const INDEX_BATCH = 1000;
/**
 * A user's index keeps the ids of idle-expired sessions until their absolute expiry (their score), since
 * a load cannot update an index in another slot. When a login finds more entries than this, it drops
 * the ids whose session key is gone, so the index stays near the number of live sessions.
 */
const INDEX_PRUNE_THRESHOLD = 32;

/**
 * Checks store options as `createRedisStore` does, without connecting: throws the same
 * InvalidOptionError (naming the option) for a URL, a node list or a setting the store would refuse.
 * For configuration checks at start-up that must agree with the store exactly.
 *
 * @example
 * checkRedisStoreOptions({ url: process.env.REDIS_URL }); // throws on redis://host/?x=1
 */
export function checkRedisStoreOptions(options: RedisStoreOptions): void {
  resolveRedisStoreOptions(options);
}

/**
 * A session store on Redis: one server, a Cluster (sessions of one user spread over all masters) or a
 * master found through Sentinel, with or without TLS. See `keys.ts` for the key layout and `scripts.ts`
 * for what each script makes atomic.
 *
 * Every call is bounded by `commandTimeoutMs` and fails fast with StoreUnavailableError while Redis is
 * unreachable; the client reconnects in the background, so the store recovers by itself. At start-up,
 * call `ping()` until it resolves to wait for the first connection. It runs on ioredis (a client it
 * creates from `url`, `clusterNodes` or `sentinels`, or yours) or on your node-redis client: see
 * `driver.ts`.
 *
 * @example
 * const store = createRedisStore({ url: process.env.REDIS_URL ?? "redis://localhost:6379" });
 * await store.ping(); // throws StoreUnavailableError until Redis answers
 * const sessions = createSessionManager({ store });
 *
 * // On a node-redis client you connect, configure and close yourself:
 * const client = await createClient({ url }).on("error", log).connect();
 * const borrowed = createRedisStore({ client });
 */
export function createRedisStore(options: RedisStoreOptions): SessionStore {
  const resolved = resolveRedisStoreOptions(options);
  const driver = openDriver(resolved);
  const scripts = storeScripts(driver);
  const keys = keyLayout(resolved.keyPrefix);
  const run = createCommandRunner(driver, resolved.commandTimeoutMs);
  /** Failures of clean-up steps that do not change an operation's outcome go to the log, if any. */
  const report = (error: unknown): void => {
    if (error instanceof Error) resolved.onError?.(error);
  };

  /** Writes a session's hash with TTL = min(idle, expiresAt - now), and its index entry, concurrently. */
  const write = async (
    operation: string,
    session: StoredSession,
    now: number,
    idleTimeoutMs: number,
    replacedId?: string,
  ): Promise<number> => {
    const hash = sessionToHash(session);
    const ttl = Math.ceil(Math.min(idleTimeoutMs, session.expiresAt - now));
    const writeHash = () =>
      run(operation, () => scripts.writeSession(keys.session(session.id), ttl, ...hash));
    if (!resolved.userIndex) {
      await writeHash();
      return 0;
    }
    const removed = replacedId === undefined ? [] : [replacedId];
    const [written, indexed] = await Promise.allSettled([
      writeHash(),
      run(operation, () =>
        scripts.updateIndex(
          keys.userIndex(session.userId),
          now,
          removed.length,
          ...removed,
          session.expiresAt,
          session.id,
        ),
      ),
    ]);
    if (written.status === "fulfilled" && indexed.status === "fulfilled") return indexed.value;
    // A session missing from its user's index would survive "log out everywhere": never leave one.
    if (written.status === "fulfilled") {
      await run(operation, () => driver.del(keys.session(session.id))).catch(report);
    }
    if (indexed.status === "fulfilled") {
      await run(operation, () =>
        scripts.updateIndex(keys.userIndex(session.userId), now, 1, session.id),
      ).catch(report);
    }
    throw written.status === "rejected" ? written.reason : (indexed as PromiseRejectedResult).reason;
  };

  /** The per-user calls, on a store that keeps no per-user index. */
  const needIndex = (): void => {
    if (!resolved.userIndex) {
      throw new UnsupportedOperationError(
        "listForUser, destroyById and destroyForUser need the per-user session index, and this Redis store was created with userIndex: false",
      );
    }
  };

  /** Removes ids from a user's index, a bounded batch per script call (one call must not run for long). */
  const unindex = async (
    operation: string,
    index: string,
    now: number,
    ids: readonly string[],
  ): Promise<void> => {
    for (let start = 0; start < ids.length; start += INDEX_BATCH) {
      const batch = ids.slice(start, start + INDEX_BATCH);
      await run(operation, () => scripts.updateIndex(index, now, batch.length, ...batch));
    }
  };

  /** Drops from a user's index the ids whose session key no longer exists (idle-expired or evicted). */
  const pruneIndex = async (userId: string, now: number): Promise<void> => {
    const index = keys.userIndex(userId);
    const ids = await run("prune", () => scripts.listIndex(index, now));
    // One EXISTS per key, all in flight at once: on a Cluster they live on different masters.
    const exists = await Promise.all(ids.map((id) => run("prune", () => driver.exists(keys.session(id)))));
    const gone = ids.filter((_, i) => exists[i] === 0);
    if (gone.length > 0) await unindex("prune", index, now, gone);
  };

  const store = {
    kind: driver.kind,
    records: createRedisRecords(driver, scripts, keys, run),

    async create(session, policy) {
      const indexSize = await write("create", session, policy.now, policy.idleTimeoutMs);
      if (indexSize > INDEX_PRUNE_THRESHOLD) {
        await pruneIndex(session.userId, policy.now).catch(report);
      }
    },

    // Not async, like `run`: the page-view path is a plain chain of `then`s.
    load(id, policy, increments) {
      const args: (string | number)[] = [policy.now, policy.idleTimeoutMs, policy.touchIntervalMs];
      try {
        if (increments !== undefined) {
          for (const field of Object.keys(increments))
            args.push(field, integerStep(field, increments[field]));
        }
      } catch (error) {
        return Promise.reject(error);
      }
      const key = keys.session(id);
      return run("load", () => scripts.loadSession(key, ...args)).then((json) =>
        json ? sessionFromHash(id, JSON.parse(json) as string[]) : null,
      );
    },

    async update(id, changes) {
      const set = Object.entries(changes.set ?? {});
      const remove = changes.remove ?? [];
      const args: string[] = [String(set.length)];
      for (const [field, value] of set) {
        assertUserField(field);
        args.push(field, value);
      }
      for (const field of remove) {
        assertUserField(field);
        args.push(field);
      }
      return (await run("update", () => scripts.updateSession(keys.session(id), Date.now(), ...args))) === 1;
    },

    async increment(id, field, by) {
      const step = integerStep(field, by);
      return run("increment", () => scripts.incrementSession(keys.session(id), Date.now(), field, step));
    },

    async rotate(oldId, newId, policy) {
      const flat = await run("rotate", () => scripts.takeSession(keys.session(oldId), policy.now));
      if (!flat) return null;
      // Rotation happens in a request, so it counts as activity: the idle timer restarts, as in memory.
      const session: StoredSession = { ...sessionFromHash(oldId, flat), id: newId, lastSeenAt: policy.now };
      // If this write fails the session is lost (the old id is already dead): the user signs in again.
      await write("rotate", session, policy.now, policy.idleTimeoutMs, oldId);
      return session;
    },

    async destroy(id) {
      const now = Date.now();
      const [existed, userId] = await run("destroy", () => scripts.destroySession(keys.session(id), now));
      // The index entry would be pruned later anyway (listByUser drops ids whose key is gone); removing it
      // now costs one more round trip on logout and keeps indexes small.
      if (userId && resolved.userIndex) {
        await run("destroy", () => scripts.updateIndex(keys.userIndex(userId), now, 1, id)).catch(report);
      }
      return existed === 1;
    },

    async listByUser(userId, now) {
      needIndex();
      const index = keys.userIndex(userId);
      const ids = await run("listByUser", () => scripts.listIndex(index, now));
      // One command per session, all in flight at once: on a Cluster they go to different masters.
      const hashes = await Promise.all(
        ids.map((id) => run("listByUser", () => driver.hgetall(keys.session(id)))),
      );
      const live: StoredSession[] = [];
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const hash = hashes[i] ?? {};
        if (Object.keys(hash).length === 0) gone.push(id);
        else {
          const session = sessionFromHash(id, Object.entries(hash).flat());
          if (now < session.expiresAt) live.push(session);
        }
      });
      // Idle-expired sessions vanish from Redis by TTL but stay in the index until pruned here.
      if (gone.length > 0) {
        await unindex("listByUser", index, now, gone).catch(report);
      }
      return live;
    },

    async destroyByUser(userId, exceptId) {
      needIndex();
      const index = keys.userIndex(userId);
      const now = Date.now();
      const ids = (await run("destroyByUser", () => scripts.listIndex(index, now))).filter(
        (id) => id !== exceptId,
      );
      // One DEL per key (a multi-key DEL fails across Cluster slots), all in flight at once.
      const results = await Promise.allSettled(
        ids.map((id) => run("destroyByUser", () => driver.del(keys.session(id)))),
      );
      const done = ids.filter((_, i) => results[i]?.status === "fulfilled");
      if (done.length > 0) {
        await unindex("destroyByUser", index, now, done).catch(report);
      }
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      // "Log out everywhere" must not report success while a session survives: the caller retries.
      if (failed) throw failed.reason;
      return results.reduce((count, r) => count + (r.status === "fulfilled" ? r.value : 0), 0);
    },

    async ping() {
      if (driver.clusterReady()) {
        // Every slot's master must answer: a Cluster missing one serves some sessions and not others.
        const masters = await run("ping", () => driver.clusterMasters());
        await Promise.all(masters.map((master) => run("ping", () => master.ping())));
        return;
      }
      await run("ping", () => driver.ping());
    },

    async close() {
      await driver.close();
    },
  } satisfies SessionStore;
  return store;
}

/** An increment step must be a safe integer, and the field a user field. */
function integerStep(field: string, by: unknown): number {
  assertUserField(field);
  if (typeof by !== "number" || !Number.isSafeInteger(by)) {
    throw new InvalidArgumentError(`increment of "${field}" must be a safe integer, got ${String(by)}`);
  }
  return by;
}

/** The driver for the client library the options name (ioredis is loaded only when needed). */
function openDriver(options: ResolvedRedisStoreOptions): RedisDriver {
  if (options.mode !== "client") return openIoredisDriver(options);
  const { client } = options;
  if (client.library === "ioredis") {
    // Told apart by resolveClient; the options' type is structural so that the typings need no ioredis.
    return ioredisClientDriver(client.client as unknown as Redis | Cluster, options.onError);
  }
  return nodeRedisDriver(client, options.commandTimeoutMs, options.onError);
}
