/**
 * `latchkey/redis`: the Redis session store (standalone, Cluster, Sentinel, TLS), on ioredis or on a
 * node-redis client. Both libraries are optional peers: ioredis is loaded only for `url`,
 * `clusterNodes` or `sentinels`.
 *
 * @example
 * import { createSessionManager } from "latchkey";
 * import { createRedisStore } from "latchkey/redis";
 *
 * const store = createRedisStore({ url: "rediss://app:secret@cache.example.com:6380" });
 * const sessions = createSessionManager({ store });
 */
export type { RedisStoreKind } from "./driver.js";
export type { NodeRedisClient, NodeRedisCluster } from "./node-redis-driver.js";
export { checkRedisStoreOptions, createRedisStore, type RedisStore } from "./redis-store.js";
export type { RedisStoreOptions } from "./redis-store-options.js";
