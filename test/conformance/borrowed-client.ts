import { createRedisStore, type RedisStoreOptions } from "../../src/stores/redis/index.js";
import { dumpRedis } from "../harness/redis-dump.js";
import type { ConformanceTarget } from "./conformance-context.js";

/**
 * The conformance target of a store on a client the test created and connected, as an application
 * would pass it (`createRedisStore({ client })`): the store leaves the client open, so the cleanup
 * closes the store first and then releases the client itself.
 */
export async function borrowedClientTarget(
  urls: readonly string[],
  client: NonNullable<RedisStoreOptions["client"]>,
  release: () => unknown,
  options: Pick<RedisStoreOptions, "keyPrefix"> = {},
): Promise<ConformanceTarget> {
  const store = createRedisStore({ client, ...options });
  await store.ping();
  return {
    store,
    dump: () => dumpRedis(urls),
    cleanup: async () => {
      await store.close();
      await release();
    },
  };
}
