/**
 * Where everything lives in Redis. Every key is `<prefix><kind>:<name>`:
 *
 * | key                   | type   | holds                                                              |
 * | --------------------- | ------ | ------------------------------------------------------------------ |
 * | `<prefix>s:<id>`      | hash   | one session: META_FIELDS (`$u $c $t $e`, `$a $i` when not empty)   |
 * |                       |        | plus the user's fields; TTL = idle deadline, never past `$e`       |
 * | `<prefix>u:<userId>`  | zset   | the user's session ids scored by absolute expiry (ms); expires at  |
 * |                       |        | its highest score                                                  |
 * | `<prefix>r:<key>`     | hash   | a record (RecordStore.insert/get), no TTL                          |
 * | `<prefix>h:<key>`     | string | a hit counter (RecordStore.hit/hits), TTL = its window             |
 *
 * `<id>` is the storage id, SHA-256 of the token: no key or value ever holds a token.
 *
 * Keys carry no `{hash tag}`, so on a Cluster a user's sessions spread over all masters; every script
 * touches exactly one key, and operations over several keys send one command per key.
 */
export interface KeyLayout {
  session(id: string): string;
  userIndex(userId: string): string;
  record(key: string): string;
  counter(key: string): string;
}

export function keyLayout(prefix: string): KeyLayout {
  return {
    session: (id) => `${prefix}s:${id}`,
    userIndex: (userId) => `${prefix}u:${userId}`,
    record: (key) => `${prefix}r:${key}`,
    counter: (key) => `${prefix}h:${key}`,
  };
}
