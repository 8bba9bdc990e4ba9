import { createRequire } from "node:module";
import { after, before } from "node:test";
import type { createClient as CreateClient, createCluster as CreateCluster } from "redis";
import {
  type RedisClusterHandle,
  type RedisServerHandle,
  startRedisCluster,
  startRedisServer,
} from "../harness/redis-servers.js";
import { borrowedClientTarget } from "./borrowed-client.js";
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
  return borrowedClientTarget([url], client, () => client.destroy());
});

runSessionStoreConformance("redis cluster via a node-redis 5 cluster", async () => {
  if (!cluster) throw new Error("the cluster was not started");
  const { urls } = cluster;
  const client = await redis5.createCluster({ rootNodes: [{ url: urls[0] as string }] }).connect();
  return borrowedClientTarget(urls, client, () => client.destroy());
});
