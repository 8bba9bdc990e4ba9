import { after, before } from "node:test";
import { createCluster } from "redis";
import { createRedisStore } from "../../src/stores/redis/index.js";
import { dumpRedis } from "../harness/redis-dump.js";
import { type RedisClusterHandle, startRedisCluster } from "../harness/redis-servers.js";
import { borrowedClientTarget } from "./borrowed-client.js";
import { runSessionStoreConformance } from "./session-store-conformance.js";

// A 3-master Redis Cluster for the file: a user's sessions spread over all masters.
let cluster: RedisClusterHandle | undefined;
before(async () => {
  cluster = await startRedisCluster({ masters: 3 });
});
after(async () => {
  await cluster?.stop();
});

runSessionStoreConformance("redis cluster", async () => {
  if (!cluster) throw new Error("the cluster was not started");
  const { urls } = cluster;
  const store = createRedisStore({ clusterNodes: urls });
  await store.ping();
  return { store, dump: () => dumpRedis(urls), cleanup: () => store.close() };
});

// The same contract on a node-redis cluster the caller created and connected: every call routed by its
// one key to that key's master.
runSessionStoreConformance("redis cluster via a node-redis cluster", async () => {
  if (!cluster) throw new Error("the cluster was not started");
  const { urls } = cluster;
  const client = await createCluster({ rootNodes: [{ url: urls[0] as string }] }).connect();
  return borrowedClientTarget(urls, client, () => client.destroy(), { keyPrefix: "nr:" });
});
