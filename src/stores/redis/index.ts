/**
 * `latchkey/redis`: the Redis session store (standalone, Cluster, Sentinel, TLS).
 *
 * @example
 * import { createSessionManager } from "latchkey";
 * import { createRedisStore } from "latchkey/redis";
 *
 * const store = createRedisStore({ url: "rediss://app:secret@cache.example.com:6380" });
 * const sessions = createSessionManager({ store });
 */
export type { RedisStoreKind } from "./connection.js";
export { createRedisStore } from "./redis-store.js";
export type { RedisStoreOptions } from "./redis-store-options.js";
