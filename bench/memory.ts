/**
 * Redis memory per session: N sessions with the same data written the way each library writes them,
 * INFO memory used_memory before and after, on a freshly flushed server.
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type { Redis } from "ioredis";
import { createSessionManager } from "latchkey";
import { createRedisStore } from "latchkey/redis";
import { createClient } from "redis";
import { sessionFields } from "../app/session-types.js";
import { sleep } from "./net.js";
import { parseInfo } from "./redis-stats.js";

export interface MemoryResult {
  sessions: number;
  keys: number;
  bytesPerSession: number;
  /** Sampled keys by "type/encoding": how many per session, and MEMORY USAGE of one on average. */
  keyKinds: Record<string, { perSession: number; averageBytes: number }>;
}

const KIND_SAMPLE = 200;
const BATCH = 500;

/** Counts every key of one type (SCAN ... TYPE). */
async function countKeysOfType(admin: Redis, type: string): Promise<number> {
  let cursor = "0";
  let count = 0;
  do {
    const [next, keys] = await admin.scan(cursor, "COUNT", 10_000, "TYPE", type);
    count += keys.length;
    cursor = next;
  } while (cursor !== "0");
  return count;
}

/**
 * What the keys are: how many of each type there are per session, and the OBJECT ENCODING and average
 * MEMORY USAGE of a sample of each type.
 */
async function keyKinds(admin: Redis, sessions: number): Promise<MemoryResult["keyKinds"]> {
  const [, sample] = await admin.scan("0", "COUNT", KIND_SAMPLE);
  const byType = new Map<string, { encodings: Set<string>; count: number; bytes: number }>();
  for (const key of sample.slice(0, KIND_SAMPLE)) {
    const type = await admin.type(key);
    const entry = byType.get(type) ?? { encodings: new Set<string>(), count: 0, bytes: 0 };
    entry.encodings.add(String(await admin.object("ENCODING", key)));
    entry.bytes += Number(await admin.memory("USAGE", key, "SAMPLES", "0"));
    entry.count += 1;
    byType.set(type, entry);
  }
  const kinds: MemoryResult["keyKinds"] = {};
  for (const [type, entry] of byType) {
    kinds[`${type}/${[...entry.encodings].join("|")}`] = {
      perSession: (await countKeysOfType(admin, type)) / sessions,
      averageBytes: entry.bytes / entry.count,
    };
  }
  return kinds;
}

/** The username of session `i`: the same length for every i, in both measurements. */
export const usernameOf = (i: number): string => `user${String(i).padStart(7, "0")}`;

async function usedMemory(admin: Redis): Promise<number> {
  return Number(parseInfo(await admin.info("memory")).used_memory ?? 0);
}

/**
 * Flushes the server, runs `write(i)` for i < count in batches, and returns the growth of used_memory.
 * `prepare` runs after the flush and before the first reading, so its connections are in the baseline.
 */
export async function measureMemory(
  admin: Redis,
  count: number,
  write: (i: number) => Promise<unknown>,
): Promise<MemoryResult> {
  await admin.flushall("SYNC");
  await sleep(200);
  const before = await usedMemory(admin);
  for (let start = 0; start < count; start += BATCH) {
    const writes: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(count, start + BATCH); i++) writes.push(write(i));
    await Promise.all(writes);
  }
  await sleep(200);
  const after = await usedMemory(admin);
  const keys = await admin.dbsize();
  return {
    sessions: count,
    keys,
    bytesPerSession: (after - before) / count,
    keyKinds: await keyKinds(admin, count),
  };
}

/**
 * connect-redis and express-session are loaded without their type declarations: these claim
 * `Express.Request.session` for express-session, and this file compiles in the same TypeScript program
 * as latchkey's own Express adapter (the peer servers have a program of their own, tsconfig.peers.json).
 * The two shapes used here are small.
 */
export interface ExpressSessionData {
  cookie: { originalMaxAge?: number | null };
  [field: string]: unknown;
}
type ConnectRedisStore = new (options: {
  client: unknown;
}) => { set(sid: string, session: ExpressSessionData): Promise<unknown> };
const { RedisStore } = createRequire(import.meta.url)("connect-redis") as { RedisStore: ConnectRedisStore };

/**
 * connect-redis, with exactly the object express-session saves: `template` is a session read back from
 * Redis after the express-session case logged in and viewed the page (its cookie object included).
 */
export async function connectRedisMemory(
  admin: Redis,
  redisURL: string,
  count: number,
  template: ExpressSessionData,
): Promise<MemoryResult> {
  const client = createClient({ url: redisURL });
  await client.connect();
  try {
    const store = new RedisStore({ client });
    return await measureMemory(admin, count, (i) => {
      const expires = new Date(Date.now() + (template.cookie.originalMaxAge ?? 1_800_000));
      const session = {
        ...template,
        cookie: { ...template.cookie, expires },
        username: usernameOf(i),
        visits: 1,
      };
      // express-session's ids: uid-safe(24), 32 base64url characters.
      return store.set(randomBytes(24).toString("base64url"), session);
    });
  } finally {
    await client.quit();
  }
}

/** A current desktop browser's User-Agent (111 characters), for the "with a browser UA" row. */
export const BROWSER_USER_AGENT =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/** How `latchkeyMemory` stores its sessions. */
export interface LatchkeyMemoryOptions {
  /** Sessions per user: with 1, each session also pays for a whole user index; with several, they share it. */
  sessionsPerUser?: number;
  /** `createRedisStore`'s `userIndex`: false keeps no per-user index key, as connect-redis keeps none. */
  userIndex?: boolean;
}

/**
 * latchkey through its engine, as the app stores sessions: `createSessionManager` with the app's field
 * schema over `createRedisStore` (with or without its per-user index), `sessionsPerUser` sessions per user,
 * data { username, visits }, the client's IP and User-Agent (`userAgent` "" is what the bench's own
 * client sends, and what the app then stores: nothing).
 */
export async function latchkeyMemory(
  admin: Redis,
  redisURL: string,
  count: number,
  userAgent: string,
  { sessionsPerUser = 1, userIndex = true }: LatchkeyMemoryOptions = {},
): Promise<MemoryResult> {
  const store = createRedisStore({ url: redisURL, userIndex });
  await store.ping();
  try {
    const sessions = createSessionManager({ store, fields: sessionFields, idleTimeoutSeconds: 1800 });
    return await measureMemory(admin, count, (i) =>
      sessions.create(usernameOf(Math.floor(i / sessionsPerUser)), {
        data: { username: usernameOf(Math.floor(i / sessionsPerUser)), visits: 1 },
        userAgent,
        ip: "127.0.0.1",
      }),
    );
  } finally {
    await store.close();
  }
}
