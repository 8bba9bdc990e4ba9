import { after, before } from "node:test";
import { createClient } from "redis";
import { createRedisStore } from "../../src/stores/redis/index.js";
import { dumpRedis } from "../harness/redis-dump.js";
import { type RedisServerHandle, startRedisServer } from "../harness/redis-servers.js";
import { borrowedClientTarget } from "./borrowed-client.js";
import { runSessionStoreConformance } from "./session-store-conformance.js";

// One redis-server for the file, started by the harness on a free port (never the shared 6379).
let server: RedisServerHandle | undefined;
before(async () => {
  server = await startRedisServer();
});
after(async () => {
  await server?.stop();
});

runSessionStoreConformance("redis", async () => {
  if (!server) throw new Error("the redis-server was not started");
  const { url } = server;
  const store = createRedisStore({ url });
  await store.ping();
  return { store, dump: () => dumpRedis([url]), cleanup: () => store.close() };
});

// The same contract with the per-user index turned off, on the same server under another key prefix.
runSessionStoreConformance(
  "redis without a user index",
  async () => {
    if (!server) throw new Error("the redis-server was not started");
    const { url } = server;
    const store = createRedisStore({ url, keyPrefix: "nx:", userIndex: false });
    await store.ping();
    return { store, dump: () => dumpRedis([url]), cleanup: () => store.close() };
  },
  { userIndex: false },
);

// The same contract on a node-redis client the caller created and connected (and closes: the store
// leaves it open), under its own key prefix.
runSessionStoreConformance("redis via a node-redis client", async () => {
  if (!server) throw new Error("the redis-server was not started");
  const { url } = server;
  const client = await createClient({ url }).connect();
  return borrowedClientTarget([url], client, () => client.destroy(), { keyPrefix: "nr:" });
});
