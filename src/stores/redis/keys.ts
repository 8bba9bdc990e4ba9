import { USER_TAG_LENGTH, userTagOf } from "../../core/token.js";

/**
 * Where everything lives in Redis. Every key is `<prefix><kind>:...`:
 *
 * | key                           | type   | holds                                                      |
 * | ----------------------------- | ------ | ---------------------------------------------------------- |
 * | `<prefix>s:{<tag>}<id rest>`  | hash   | one session: HASH_FIELDS (`$u $c $t $e`, `$a $i` when not  |
 * |                               |        | empty) plus the user's fields; TTL = idle deadline, never  |
 * |                               |        | past `$e`; or, for a grace period after a renewal, a       |
 * |                               |        | forward: `$s` (successor's id) and `$x` only (lua.ts)      |
 * | `<prefix>u:{<tag>}<userId>`   | zset   | the user's session ids scored by creation time (ms);       |
 * |                               |        | expires with its latest session                            |
 * | `<prefix>v:{<tag>}<userId>`   | string | when the user's sessions were last revoked (ms); TTL       |
 * |                               |        | REVOCATION_MEMORY_MS                                       |
 * | `<prefix>r:<key>`             | hash   | a record (RecordStore.insert/get), TTL when inserted with  |
 * |                               |        | one                                                        |
 * | `<prefix>h:<key>`             | string | the health check's write probe (redis-health.ts), TTL 1 s  |
 *
 * `<id>` is the storage id: the slot tag, then SHA-256 of the token. No key or value holds a token.
 * `<tag>` is the user's slot tag (`userTagOf`), which every one of the user's storage ids starts with:
 * on a Cluster a user's sessions, index and marker share one hash slot, and users spread over all
 * masters by their tags. That is what lets one script create, rotate or revoke atomically.
 */
export interface KeyLayout {
  session(id: string): string;
  /** What a session key of the slot tag `tag` starts with; the id without its tag follows. */
  sessionPrefix(tag: string): string;
  userIndex(userId: string): string;
  /** What the index key of a user of slot tag `tag` starts with; the user id follows. */
  userIndexPrefix(tag: string): string;
  revocation(userId: string): string;
  record(key: string): string;
  /** The health check's write probe. */
  health(key: string): string;
}

export function keyLayout(prefix: string): KeyLayout {
  const sessionPrefix = (tag: string) => `${prefix}s:{${tag}}`;
  const userIndexPrefix = (tag: string) => `${prefix}u:{${tag}}`;
  return {
    // The page-view path: one template, no helper calls.
    session: (id) => `${prefix}s:{${id.slice(0, USER_TAG_LENGTH)}}${id.slice(USER_TAG_LENGTH)}`,
    sessionPrefix,
    userIndex: (userId) => userIndexPrefix(userTagOf(userId)) + userId,
    userIndexPrefix,
    revocation: (userId) => `${prefix}v:{${userTagOf(userId)}}${userId}`,
    record: (key) => `${prefix}r:${key}`,
    health: (key) => `${prefix}h:${key}`,
  };
}
