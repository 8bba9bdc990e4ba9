import type { Cluster, Redis } from "ioredis";
import { InvalidArgumentError, InvalidOptionError, UnsupportedOperationError } from "../../core/errors.js";
import { REVOCATION_MEMORY_MS } from "../../core/revocation-memory.js";
import {
  idleDeadlineOf,
  type RecordStore,
  type SessionStore,
  type StoreHealth,
  type StorePersistence,
} from "../../core/session-store.js";
import { tagOf, userTagOf } from "../../core/token.js";
import { createCommandRunner } from "./command-runner.js";
import type { RedisDriver } from "./driver.js";
import { ioredisClientDriver, openIoredisDriver } from "./ioredis-driver.js";
import { keyLayout } from "./keys.js";
import { nodeRedisDriver } from "./node-redis-driver.js";
import { checkHealth, checkPersistence } from "./redis-health.js";
import { createRedisRecords } from "./redis-records.js";
import {
  type RedisStoreOptions,
  type ResolvedRedisStoreOptions,
  resolveRedisStoreOptions,
} from "./redis-store-options.js";
import { storeScripts } from "./script-calls.js";
import {
  FLASH_FIELD_PREFIX,
  forwardFromReply,
  HASH_FIELDS,
  isForwardReply,
  sessionFromHash,
  sessionToHash,
} from "./session-hash.js";

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

/** The Redis store: a SessionStore with the `records`, `health` and `persistence` capabilities. */
export type RedisStore = SessionStore & {
  readonly records: RecordStore;
  health(): Promise<StoreHealth>;
  persistence(): Promise<StorePersistence>;
};

/**
 * A session store on Redis: one server, a Cluster (sessions of one user spread over all masters) or a
 * master found through Sentinel, with or without TLS. See `keys.ts` for the key layout, `session-hash.ts`
 * for a session's hash and `lua.ts` for what each script makes atomic.
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
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  const resolved = resolveRedisStoreOptions(options);
  const driver = openDriver(resolved);
  if (resolved.waitForReplicas !== undefined && driver.kind === "redis-cluster") {
    void driver.close();
    throw new InvalidOptionError(
      "waitForReplicas",
      "is not supported on a Cluster (WAIT must reach each key's master); use it with url, sentinels or a non-Cluster client",
    );
  }
  const scripts = storeScripts(driver, resolved.waitForReplicas);
  const keys = keyLayout(resolved.keyPrefix);
  // With waitForReplicas a write is two commands under one deadline, the script and then a WAIT of up
  // to its timeoutMs: the call gets both budgets, as when each command had its own timeout.
  const run = createCommandRunner(
    driver,
    resolved.commandTimeoutMs + (resolved.waitForReplicas?.timeoutMs ?? 0),
  );
  /** The per-user calls, on a store that keeps no per-user index. */
  const needIndex = (): void => {
    if (!resolved.userIndex) {
      throw new UnsupportedOperationError(
        "listForUser, destroyById and destroyForUser need the per-user session index, and this Redis store was created with userIndex: false",
      );
    }
  };
  /** What the scripts prepend to a user id to reach the index of a session's user ('' without index). */
  const indexPrefixOf = (id: string): string => (resolved.userIndex ? keys.userIndexPrefix(tagOf(id)) : "");

  const store = {
    kind: driver.kind,
    records: createRedisRecords(driver, scripts, keys, run, resolved.waitForReplicas),

    async create(session, policy) {
      const anonymous = session.userId === "";
      const id = session.storageId;
      if (!anonymous && tagOf(id) !== userTagOf(session.userId)) {
        // Checked here because it must hold for the Cluster slot layout: a caller other than the
        // manager could break it, and the session would then live apart from its index.
        throw new InvalidArgumentError("a storage id must start with its user's slot tag (userTagOf)");
      }
      const hash = sessionToHash(session);
      // A create (or a restored session) starts its idle timer now.
      const deadline = idleDeadlineOf({ ...session, lastSeenAt: policy.now }, policy.idleTimeoutMs);
      const ttl = Math.ceil(deadline - policy.now);
      // An anonymous session is in no index and cannot be revoked per user: its hash alone.
      const sessionKeys =
        resolved.userIndex && !anonymous
          ? [keys.session(id), keys.userIndex(session.userId), keys.revocation(session.userId)]
          : [keys.session(id)];
      return run("create", (deadline) =>
        scripts.create(deadline, sessionKeys, [
          policy.now,
          ttl,
          policy.maxSessionsPerUser,
          keys.sessionPrefix(tagOf(id)),
          id,
          session.createdAt,
          session.expiresAt,
          ...hash,
        ]),
      );
    },

    // Not async, like `run`: the page-view path is a plain chain of `then`s.
    load(id, policy, increments) {
      const { now, idleTimeoutMs } = policy;
      // Times as the script compares them, ready made (see LOAD_SESSION): idle deadline, touch threshold.
      const args: (string | number)[] = [
        now,
        idleTimeoutMs,
        now + idleTimeoutMs,
        // Before the epoch (a test's clock near 0): no refresh is that old, so only a missing one counts.
        Math.max(now - policy.touchIntervalMs, -1),
        indexPrefixOf(id),
        id,
        policy.takeFlash ? "1" : "0",
      ];
      if (increments !== undefined) {
        for (const field in increments) args.push(field, increments[field] as number);
      }
      const key = [keys.session(id)];
      const withFlash = policy.takeFlash === true;
      return run(
        "load",
        (deadline) => scripts.load(deadline, key, args),
        // A session is the one string reply; a forward the one array (LOAD_SESSION).
        (reply) =>
          typeof reply === "string"
            ? sessionFromHash(id, JSON.parse(reply) as string[], withFlash)
            : reply === 1
              ? "absolute_expiry"
              : reply === null || typeof reply === "number"
                ? null
                : forwardFromReply(reply),
      );
    },

    async update(id, changes, now) {
      const { set = {}, remove = [], increment = {}, flash = {} } = changes;
      const setArgs: string[] = [];
      for (const field in set) setArgs.push(field, set[field] as string);
      // Flash messages are hash fields of their own prefix, counted in the byte budget without it.
      for (const name in flash) setArgs.push(FLASH_FIELD_PREFIX + name, flash[name] as string);
      // A reserved field, outside the byte budget like the other metadata.
      if (changes.authenticatedAt !== undefined) {
        setArgs.push(HASH_FIELDS.authenticatedAt, String(changes.authenticatedAt));
      }
      const budget =
        changes.set !== undefined || changes.remove !== undefined || changes.flash !== undefined
          ? String(changes.maxBytes)
          : "";
      const args: (string | number)[] = [
        now,
        budget,
        setArgs.length / 2,
        remove.length,
        ...setArgs,
        ...remove,
      ];
      const counted = Object.keys(increment);
      for (const field of counted) args.push(field, increment[field] as number);
      const values = await run("update", (deadline) => scripts.update(deadline, [keys.session(id)], args));
      if (values === null) return null;
      const result: Record<string, number> = {};
      counted.forEach((field, i) => {
        result[field] = Number(values[i]);
      });
      return result;
    },

    async rotate(oldId, newId, policy, rewrite, forward) {
      if (tagOf(newId) !== tagOf(oldId)) {
        throw new InvalidArgumentError("a rotated session id must keep the old id's slot tag");
      }
      // Rotation happens in a request, so it counts as activity: the idle timer restarts, as in memory.
      const args: (string | number)[] = [
        policy.now,
        policy.idleTimeoutMs,
        oldId,
        newId,
        indexPrefixOf(oldId),
        forward?.sealedToken ?? "",
        forward?.graceMs ?? "",
      ];
      if (rewrite) {
        for (const field in rewrite.expect) {
          args.push(field, rewrite.expect[field] as string, rewrite.set[field] ?? "");
        }
      }
      const flat = await run("rotate", (deadline) =>
        scripts.rotate(deadline, [keys.session(oldId), keys.session(newId)], args),
      );
      if (flat === null) return null;
      return isForwardReply(flat) ? forwardFromReply(flat) : sessionFromHash(newId, flat);
    },

    async destroy(id, now) {
      const ended = await run("destroy", (deadline) =>
        scripts.destroy(deadline, [keys.session(id)], [now, id, indexPrefixOf(id)]),
      );
      return ended === 1;
    },

    async take(id, now) {
      const flat = await run("take", (deadline) =>
        scripts.take(deadline, [keys.session(id)], [now, id, indexPrefixOf(id)]),
      );
      if (flat === null) return null;
      // Taken through a forward: the reply names the successor's id first (TAKE_SESSION).
      return isForwardReply(flat)
        ? sessionFromHash(flat[1] as string, flat.slice(2), true)
        : sessionFromHash(id, flat, true);
    },

    async listForUser(userId, now) {
      needIndex();
      const json = await run("listForUser", (deadline) =>
        scripts.listForUser(deadline, [keys.userIndex(userId)], [now, keys.sessionPrefix(userTagOf(userId))]),
      );
      return (JSON.parse(json) as string[][]).map(([id, ...flat]) => sessionFromHash(id as string, flat));
    },

    async destroyById(userId, publicId, now) {
      needIndex();
      const ended = await run("destroyById", (deadline) =>
        scripts.destroyById(
          deadline,
          [keys.userIndex(userId)],
          [now, keys.sessionPrefix(userTagOf(userId)), publicId],
        ),
      );
      return ended === 1;
    },

    async destroyForUser(userId, now, exceptId) {
      needIndex();
      return run("destroyForUser", (deadline) =>
        scripts.destroyForUser(
          deadline,
          [keys.userIndex(userId), keys.revocation(userId)],
          [now, keys.sessionPrefix(userTagOf(userId)), exceptId ?? "", REVOCATION_MEMORY_MS],
        ),
      );
    },

    async ping() {
      if (driver.clusterReady()) {
        // Every slot's master must answer: a Cluster missing one serves some sessions and not others.
        const masters = await run("ping", () => driver.clusterMasters());
        await Promise.all(masters.map((master) => run("ping", (deadline) => master.ping(deadline))));
        return;
      }
      await run("ping", (deadline) => driver.ping(deadline));
    },

    health() {
      return checkHealth({ driver, run, scripts, keys });
    },

    persistence() {
      return checkPersistence({ driver, run });
    },

    async close() {
      await driver.close();
    },
  } satisfies RedisStore;
  return store;
}

/** The driver for the client library the options name (ioredis is loaded only when needed). */
function openDriver(options: ResolvedRedisStoreOptions): RedisDriver {
  if (options.mode !== "client") return openIoredisDriver(options);
  const { client } = options;
  if (client.library === "ioredis") {
    // Told apart by resolveClient; the options' type is structural so that the typings need no ioredis.
    return ioredisClientDriver(client.client as unknown as Redis | Cluster, options.onError);
  }
  return nodeRedisDriver(client, options.onError);
}
