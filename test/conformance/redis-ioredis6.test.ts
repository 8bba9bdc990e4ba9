import { createRequire } from "node:module";
import { after, before } from "node:test";
import type { Redis } from "ioredis";
import { type RedisServerHandle, startRedisServer } from "../harness/redis-servers.js";
import { borrowedClientTarget } from "./borrowed-client.js";
import { runSessionStoreConformance } from "./session-store-conformance.js";

/**
 * ioredis 6 (the `ioredis6` alias of the dev dependencies; `ioredis` itself is 5), which `npm install
 * ioredis` gives new users: the store contract on a client of it. Its API is the one the store uses
 * of version 5, so the version 5 types describe it.
 */
const { Redis: Redis6 } = createRequire(import.meta.url)("ioredis6") as { Redis: typeof Redis };

let server: RedisServerHandle | undefined;
before(async () => {
  server = await startRedisServer();
});
after(async () => {
  await server?.stop();
});

runSessionStoreConformance("redis via an ioredis 6 client", async () => {
  if (!server) throw new Error("the redis-server was not started");
  const { url } = server;
  const client = new Redis6(url, { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false });
  return borrowedClientTarget([url], client, () => client.disconnect());
});
