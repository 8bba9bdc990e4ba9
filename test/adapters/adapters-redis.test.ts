import { after, before } from "node:test";
import { createRedisStore } from "../../src/stores/redis/index.js";
import { type RedisServerHandle, startRedisServer } from "../harness/redis-servers.js";
import { runAdapterSuite } from "./adapter-suite.js";
import { ADAPTERS } from "./adapters.js";

// One redis-server for the file, on a free port (never the shared 6379); a dead one is a closed port.
let server: RedisServerHandle | undefined;
let deadPort = 0;
before(async () => {
  server = await startRedisServer();
  const dead = await startRedisServer();
  deadPort = Number(new URL(dead.url).port);
  await dead.stop();
});
after(async () => {
  await server?.stop();
});

for (const adapter of ADAPTERS) {
  runAdapterSuite(adapter, {
    name: "Redis",
    async open() {
      if (!server) throw new Error("the redis-server was not started");
      const store = createRedisStore({ url: server.url, commandTimeoutMs: 2000 });
      await store.ping();
      return store;
    },
    openDead: async () => createRedisStore({ url: `redis://127.0.0.1:${deadPort}`, connectTimeoutMs: 200 }),
  });
}
