import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * express-session's signed cookie, read as express-session reads it: the value is URL-encoded
 * (`s%3A...`), starts with `s:`, and is `<sid>.<signature>`, the signature being HMAC-SHA256 of the sid
 * with one of the app's secrets, base64 without padding (the `cookie-signature` package's format).
 */

/** What an express-session cookie value yields when one of `secrets` signed it. */
export interface VerifiedSessionId {
  sid: string;
  /** The secret that verified it (the newest that did: the first of the list). */
  secret: string;
}

/** Longest cookie value worth verifying: express-session's are about 80 characters. */
const MAX_SIGNED_LENGTH = 512;

/**
 * The session id of a signed express-session cookie value, or null when it is not signed by any of
 * `secrets` (forged, unsigned, truncated, oversized, badly encoded). Never throws on bad input.
 */
export function verifySignedSessionId(
  rawValue: string | undefined,
  secrets: readonly string[],
): VerifiedSessionId | null {
  if (rawValue === undefined || rawValue.length > MAX_SIGNED_LENGTH) return null;
  let value: string;
  try {
    value = rawValue.includes("%") ? decodeURIComponent(rawValue) : rawValue;
  } catch {
    return null;
  }
  // express-session ignores a cookie without the "s:" mark (an unsigned sid).
  if (!value.startsWith("s:")) return null;
  const signed = value.slice(2);
  const dot = signed.lastIndexOf(".");
  if (dot <= 0) return null;
  const sid = signed.slice(0, dot);
  const signature = Buffer.from(signed.slice(dot + 1));
  for (const secret of secrets) {
    const expected = Buffer.from(signatureOf(sid, secret));
    if (expected.length === signature.length && timingSafeEqual(expected, signature)) {
      return { sid, secret };
    }
  }
  return null;
}

/** The signature `cookie-signature` appends: base64 HMAC-SHA256 without its "=" padding. */
function signatureOf(value: string, secret: string): string {
  return createHmac("sha256", secret).update(value).digest("base64").replace(/=+$/, "");
}
