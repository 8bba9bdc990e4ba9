import { createClient, type RedisClientType } from "redis";
import { VIEW_SCRIPT } from "./floor-script.js";

/** The floors' one round trip on a node-redis client: VIEW_SCRIPT by EVALSHA (EVAL on NOSCRIPT). */
export interface FloorNodeRedis {
  client: RedisClientType;
  view(key: string, ttlSeconds: number): Promise<[string, number] | null>;
}

/** A connected node-redis client with VIEW_SCRIPT loaded, for the floors on Express and Hono. */
export async function connectFloorNodeRedis(url: string): Promise<FloorNodeRedis> {
  const client: RedisClientType = createClient({ url });
  client.on("error", (error: unknown) => console.error(error));
  await client.connect();
  const sha = await client.scriptLoad(VIEW_SCRIPT);
  return {
    client,
    async view(key, ttlSeconds) {
      const options = { keys: [key], arguments: [String(ttlSeconds)] };
      const reply = await client.evalSha(sha, options).catch((error: unknown) => {
        if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
          return client.eval(VIEW_SCRIPT, options);
        }
        throw error;
      });
      return reply === null ? null : (reply as [string, number]);
    },
  };
}
