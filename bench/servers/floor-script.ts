import { Redis } from "ioredis";

/**
 * The floors' one round trip per view. Returns false when the session does not exist, so that a view
 * can never recreate a session a logout deleted (HINCRBY alone would); else the username and the new
 * count, with the idle TTL slid.
 */
export const VIEW_SCRIPT = `
local name = redis.call('HGET', KEYS[1], 'username')
if not name then return false end
local visits = redis.call('HINCRBY', KEYS[1], 'visits', 1)
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {name, visits}
`;

/** The floors' cookie: an opaque 256-bit token, base64url. */
export const TOKEN_COOKIE = "t";
const TOKEN_PATTERN = /(?:^|;\s*)t=([A-Za-z0-9_-]{43})(?:;|$)/;

/** The token in a Cookie header, if any. */
export function floorToken(cookieHeader: string | undefined): string | undefined {
  return TOKEN_PATTERN.exec(cookieHeader ?? "")?.[1];
}

export interface FloorRedis extends Redis {
  view(key: string, ttlSeconds: number): Promise<[string, number] | null>;
}

/** An ioredis client with VIEW_SCRIPT defined as `view` (EVALSHA, EVAL on NOSCRIPT). */
export function connectFloorRedis(url: string): FloorRedis {
  const redis = new Redis(url) as FloorRedis;
  redis.defineCommand("view", { numberOfKeys: 1, lua: VIEW_SCRIPT });
  return redis;
}
