// One session manager for the whole app: route handlers, server actions and pages all use this module.
// Sessions live in Redis when REDIS_URL is set (through ioredis), in memory otherwise.
import { createSessionManager } from "latchkey";
import { createMemoryStore } from "latchkey/memory";
import { createRedisStore } from "latchkey/redis";
import { createWebSessions } from "latchkey/web";

function createSessions() {
  const store = process.env.REDIS_URL
    ? createRedisStore({ url: process.env.REDIS_URL })
    : createMemoryStore();
  const sessions = createSessionManager({ store, fields: { username: "string", visits: "integer" } });
  return { sessions, web: createWebSessions({ sessions }) };
}

// Next.js may evaluate this module more than once (once per server layer): keep one instance per
// process, so that one store connection (or one memory store) serves them all.
globalThis.latchkeyExample ??= createSessions();
export const { sessions, web } = globalThis.latchkeyExample;
