import { hash, randomBytes } from "node:crypto";

/** 256 bits from the OS CSPRNG, base64url without padding: 43 characters. */
export const TOKEN_BYTES = 32;
export const TOKEN_LENGTH = 43;
/** Characters of the session id shown to users and written to logs (96 bits: unique, not a credential). */
export const PUBLIC_ID_LENGTH = 16;
/**
 * Characters of the storage id: the first 132 bits of SHA-256(token). Enough that neither a collision
 * between sessions (2^66 sessions) nor a preimage (2^132 hashes, from a stolen dump) is within reach,
 * and 21 bytes shorter than the whole digest in every session key and every user-index entry.
 */
export const SESSION_ID_LENGTH = 22;

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A fresh session token. It is given to the client once and never stored anywhere. */
export function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString("base64url");
}

/**
 * True when `value` has the exact shape of a token. Anything else (missing, oversized, wrong alphabet)
 * cannot name a session, so callers answer "no session" without asking the store.
 */
export function isWellFormedToken(value: unknown): value is string {
  return typeof value === "string" && value.length === TOKEN_LENGTH && TOKEN_PATTERN.test(value);
}

/**
 * The session's storage id: SHA-256 of the token, base64url, cut to SESSION_ID_LENGTH characters. The
 * store only ever sees this, so a leaked database dump or `MONITOR` output cannot be replayed as a cookie.
 */
export function sessionIdOf(token: string): string {
  // crypto.hash (Node >= 20.12) is the one-shot form: a third of the cost of createHash().digest().
  return hash("sha256", token, "base64url").slice(0, SESSION_ID_LENGTH);
}

/** The short prefix of a session id that is safe to show in pages and logs. */
export function publicIdOf(sessionId: string): string {
  return sessionId.slice(0, PUBLIC_ID_LENGTH);
}
