/**
 * The session cookie, read and written by hand: the adapter needs one cookie with fixed attributes, and
 * owning the parser lets it treat a duplicated cookie as "no session" (a sign of cookie tossing from a
 * sibling subdomain) instead of silently picking one of the values.
 */

/** RFC 6265 cookie-name characters (an HTTP token). */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;
/** Longest cookie value worth looking at: a token is 43 characters, anything far longer is noise. */
const MAX_VALUE_LENGTH = 256;

export function isValidCookieName(name: unknown): name is string {
  return typeof name === "string" && COOKIE_NAME.test(name);
}

/**
 * The value of cookie `name` in a Cookie header, or undefined when it is absent, present more than once,
 * or implausibly long. The value is not validated here: the session manager rejects malformed tokens
 * without asking the store.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length === 0) return undefined;
  let found: string | undefined;
  let from = 0;
  while (from < header.length) {
    let end = header.indexOf(";", from);
    if (end === -1) end = header.length;
    const eq = header.indexOf("=", from);
    if (eq !== -1 && eq < end && header.slice(from, eq).trim() === name) {
      if (found !== undefined) return undefined;
      found = header.slice(eq + 1, end).trim();
    }
    from = end + 1;
  }
  if (found === undefined || found.length > MAX_VALUE_LENGTH) return undefined;
  return found;
}

export interface CookieAttributes {
  /** Adds `Secure`; the name should then carry the `__Host-` prefix. */
  secure: boolean;
  /** Seconds until the browser forgets the cookie; 0 deletes it. */
  maxAgeSeconds: number;
}

/**
 * A Set-Cookie value: HttpOnly (no script can read the token), SameSite=Lax (not sent on cross-site
 * subrequests and form posts), Path=/ and no Domain (required by the `__Host-` prefix).
 */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  const maxAge = Math.max(0, Math.round(attributes.maxAgeSeconds));
  const secure = attributes.secure ? "; Secure" : "";
  return `${name}=${value}; Max-Age=${maxAge}; Path=/; HttpOnly${secure}; SameSite=Lax`;
}
