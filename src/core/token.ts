import { hash, randomBytes } from "node:crypto";
import { InvalidArgumentError } from "./errors.js";

/**
 * A token is 43 base64url characters: a 2-character slot tag (USER_TAG_LENGTH) that places all of a
 * user's sessions in one Redis Cluster hash slot, then 41 characters (246 bits) from the OS CSPRNG.
 */
export const TOKEN_LENGTH = 43;
/**
 * Characters of the slot tag at the start of every token and storage id. 12 bits: 4,096 tags, enough
 * to spread users evenly over the masters of a Cluster (a slot is CRC16 of the tag).
 */
export const USER_TAG_LENGTH = 2;
/** Characters of the session id shown to users and written to logs (96 bits: unique, not a credential). */
export const PUBLIC_ID_LENGTH = 16;
/**
 * Characters of the storage id: the token's slot tag, then the first 132 bits of SHA-256(token). Enough
 * that neither a collision between sessions (2^66 sessions) nor a preimage (2^132 hashes, from a stolen
 * dump) is within reach, and 19 bytes shorter than tag + whole digest in every key and index entry.
 */
export const STORAGE_ID_LENGTH = USER_TAG_LENGTH + 22;

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * A fresh session token, for the user of slot tag `tag` (see `userTagOf`; a random tag by default). It
 * is given to the client once and never stored anywhere. The tag is not secret (the store keeps it in
 * the session's key); the 246 random bits after it are the credential.
 */
export function generateToken(tag?: string): string {
  // 32 bytes are 43 base64url characters: a random tag, then 41 characters (the last holds 2 bits).
  const random = randomBytes(32).toString("base64url");
  if (tag === undefined) return random;
  if (!isTag(tag)) throw new InvalidArgumentError(`a slot tag is ${USER_TAG_LENGTH} base64url characters`);
  return tag + random.slice(USER_TAG_LENGTH, TOKEN_LENGTH);
}

function isTag(value: string): boolean {
  return value.length === USER_TAG_LENGTH && /^[A-Za-z0-9_-]+$/.test(value);
}

/**
 * The slot tag of a user: the first USER_TAG_LENGTH base64url characters of SHA-256 of the user id.
 * Every session of the user carries it (in its token and storage id), and so does the user's index key:
 * on a Cluster they all hash to one slot, so that one script can change a session and the index that
 * revokes it together. It reveals 12 bits of a hash of the user id to whoever holds the token.
 */
export function userTagOf(userId: string): string {
  return hash("sha256", `latchkey-user:${userId}`, "base64url").slice(0, USER_TAG_LENGTH);
}

/** The slot tag at the start of a token or storage id. */
export function tagOf(tokenOrId: string): string {
  return tokenOrId.slice(0, USER_TAG_LENGTH);
}

/**
 * True when `value` has the exact shape of a token. Anything else (missing, oversized, wrong alphabet)
 * cannot name a session, so callers answer "no session" without asking the store.
 */
export function isWellFormedToken(value: unknown): value is string {
  return typeof value === "string" && value.length === TOKEN_LENGTH && TOKEN_PATTERN.test(value);
}

/**
 * The session's storage id: the token's slot tag, then SHA-256 of the token, base64url, cut to
 * STORAGE_ID_LENGTH characters. The
 * store only ever sees this, so a leaked database dump or `MONITOR` output cannot be replayed as a cookie.
 */
export function storageIdOf(token: string): string {
  // crypto.hash (Node >= 20.12) is the one-shot form: a third of the cost of createHash().digest().
  return tagOf(token) + hash("sha256", token, "base64url").slice(0, STORAGE_ID_LENGTH - USER_TAG_LENGTH);
}

/** The public id of a storage id: the part safe to show in pages and logs (the digest, not the tag). */
export function publicIdOfStorageId(storageId: string): string {
  return storageId.slice(USER_TAG_LENGTH, USER_TAG_LENGTH + PUBLIC_ID_LENGTH);
}
