import { createRequire } from "node:module";
import { after, before } from "node:test";
import type { createClient as CreateClient, createCluster as CreateCluster } from "redis";
import { createRedisStore } from "../../src/stores/redis/index.js";
import { dumpRedis } from "../harness/redis-dump.js";
import {
  type RedisClusterHandle,
  type RedisServerHandle,
  startRedisCluster,
  startRedisServer,
} from "../harness/redis-servers.js";
import { runSessionStoreConformance } from "./session-store-conformance.js";

/**
 * node-redis 5 (the `redis5` alias of the dev dependencies; `redis` itself is 6), which connect-redis 9
 * users run today: the store contract on a v5 client and on a v5 cluster. The calls used here are the
 * same in both versions, so the v6 types describe them.
 */
const redis5 = createRequire(import.meta.url)("redis5") as {
  createClient: typeof CreateClient;
  createCluster: typeof CreateCluster;
};

let server: RedisServerHandle | undefined;
let cluster: RedisClusterHandle | undefined;
before(async () => {
  [server, cluster] = await Promise.all([startRedisServer(), startRedisCluster({ masters: 3 })]);
});
after(async () => {
  await Promise.all([server?.stop(), cluster?.stop()]);
});

runSessionStoreConformance("redis via a node-redis 5 client", async () => {
  if (!server) throw new Error("the redis-server was not started");
  const { url } = server;
  const client = await redis5.createClient({ url }).connect();
  const store = createRedisStore({ client });
  await store.ping();
  return {
    store,
    dump: () => dumpRedis([url]),
    cleanup: async () => {
      await store.close();
      client.destroy();
    },
  };
});

runSessionStoreConformance("redis cluster via a node-redis 5 cluster", async () => {
  if (!cluster) throw new Error("the cluster was not started");
  const { urls } = cluster;
  const client = await redis5.createCluster({ rootNodes: [{ url: urls[0] as string }] }).connect();
  const store = createRedisStore({ client });
  await store.ping();
  return {
    store,
    dump: () => dumpRedis(urls),
    cleanup: async () => {
      await store.close();
      client.destroy();
    },
  };
});
