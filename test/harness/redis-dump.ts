import { RespError, type RespReply, respCommand, respCommands, respTargetOf } from "./resp-client.js";

/**
 * Every key and everything stored under it, as strings, on each server of `urls` (for a Cluster, pass
 * every master): `[key, type, ...contents]` per key, flattened. For tests that prove what a store does
 * and does not write (no token anywhere, nothing left of a dead session).
 *
 * SCAN may return a key twice and misses nothing that exists for the whole scan; a key that expires
 * during the dump is simply dumped as empty.
 */
export async function dumpRedis(urls: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const url of urls) {
    const target = respTargetOf(url);
    const keys = new Set<string>();
    let cursor = "0";
    do {
      const reply = await respCommand(target, "SCAN", cursor, "COUNT", "1000");
      const [next, batch] = expectArray(reply) as [string, string[]];
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== "0");
    for (const key of keys) {
      const [type] = await respCommands(target, [["TYPE", key]]);
      const read = READERS[String(type)];
      const contents = read ? await respCommand(target, ...read(key)) : null;
      out.push(key, String(type), ...flatten(contents));
    }
  }
  return out;
}

const READERS: Record<string, (key: string) => string[]> = {
  string: (key) => ["GET", key],
  hash: (key) => ["HGETALL", key],
  zset: (key) => ["ZRANGE", key, "0", "-1", "WITHSCORES"],
  set: (key) => ["SMEMBERS", key],
  list: (key) => ["LRANGE", key, "0", "-1"],
};

function expectArray(reply: RespReply): RespReply[] {
  if (!Array.isArray(reply)) {
    throw new Error(`unexpected reply: ${reply instanceof RespError ? reply.message : String(reply)}`);
  }
  return reply;
}

function flatten(reply: RespReply): string[] {
  if (reply === null) return [];
  if (Array.isArray(reply)) return reply.flatMap(flatten);
  if (reply instanceof RespError) throw new Error(reply.message);
  return [String(reply)];
}
