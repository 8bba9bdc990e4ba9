import { InvalidOptionError } from "../core/errors.js";

/**
 * The session cookie, read and written by hand: an adapter needs one cookie with fixed attributes, and
 * owning the parser lets it treat a duplicated cookie as "no session" (a sign of cookie tossing from a
 * sibling subdomain) instead of silently picking one of the values.
 */

/** RFC 6265 cookie-name characters (an HTTP token). */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;
/** Longest cookie value worth looking at: a token is 43 characters, anything far longer is noise. */
const MAX_VALUE_LENGTH = 256;
const HOST_PREFIX = "__Host-";
const SECURE_PREFIX = "__Secure-";
/** RFC 6265 path-value without spaces: "/" then printable ASCII other than ";" and whitespace. */
const COOKIE_PATH = /^\/[!-:<-~]{0,255}$/;
/** A host name (RFC 1123 labels), as a Domain attribute takes it; a leading dot is ignored. */
const DOMAIN_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export type SameSite = "lax" | "strict" | "none";

/** The cookie options every adapter takes. */
export interface SessionCookieOptions {
  /**
   * Cookie name, default "lk". Over HTTPS the cookie is sent as `__Host-` + name (bound to this exact
   * host and Path=/), or as `__Secure-` + name when `cookieDomain` or `cookiePath` rule `__Host-` out.
   */
  cookieName?: string;
  /**
   * Whether the cookie is `Secure` (and prefixed). "auto" (the default) follows the request's
   * protocol as the adapter sees it (behind a proxy: see the adapter's proxy setting).
   */
  secure?: "auto" | boolean;
  /**
   * SameSite attribute, default "lax": not sent with cross-site subrequests and form posts, sent when
   * the user follows a link. "strict" is not sent even then; "none" needs `secure: true`.
   */
  sameSite?: SameSite;
  /**
   * Path attribute, default "/". A narrower path (an app mounted under "/app") keeps the cookie away
   * from the rest of the site; it is not a security boundary between apps on one origin.
   */
  cookiePath?: string;
  /**
   * Domain attribute, default none: the cookie goes only to the host that set it. With a domain
   * ("example.com") it also goes to every subdomain, which then can read and overwrite it: set it only
   * when the session must span subdomains you all control.
   */
  cookieDomain?: string;
  /**
   * Adds `Partitioned` (CHIPS): in a site embedded in another site's iframe, the cookie is kept per
   * top-level site instead of being blocked as a third-party cookie. Needs `secure: true` and usually
   * `sameSite: "none"`. Default false.
   */
  partitioned?: boolean;
}

/** Cookie options after validation. */
export interface CookieSettings {
  name: string;
  secure: "auto" | boolean;
  sameSite: SameSite;
  /** "/" unless configured. */
  path: string;
  /** Lower-cased, without a leading dot; undefined: host-only. */
  domain: string | undefined;
  partitioned: boolean;
}

export function isValidCookieName(name: unknown): name is string {
  return typeof name === "string" && COOKIE_NAME.test(name);
}

/** Checks the cookie options once, at construction; throws InvalidOptionError naming the bad one. */
export function resolveCookieSettings(options: SessionCookieOptions): CookieSettings {
  const {
    cookieName = "lk",
    secure = "auto",
    sameSite = "lax",
    cookiePath = "/",
    cookieDomain,
    partitioned = false,
  } = options;
  if (!isValidCookieName(cookieName)) {
    throw new InvalidOptionError(
      "cookieName",
      `must be 1-64 cookie-name characters (letters, digits, !#$%&'*+-.^_\`|~), got ${JSON.stringify(cookieName)}`,
    );
  }
  if (/^__(host|secure)-/i.test(cookieName)) {
    throw new InvalidOptionError(
      "cookieName",
      "must not carry a __Host- or __Secure- prefix: one is added over HTTPS",
    );
  }
  if (secure !== "auto" && secure !== true && secure !== false) {
    throw new InvalidOptionError("secure", `must be "auto", true or false, got ${JSON.stringify(secure)}`);
  }
  if (sameSite !== "lax" && sameSite !== "strict" && sameSite !== "none") {
    throw new InvalidOptionError(
      "sameSite",
      `must be "lax", "strict" or "none", got ${JSON.stringify(sameSite)}`,
    );
  }
  if (sameSite === "none" && secure !== true) {
    // Browsers drop a SameSite=None cookie without Secure; with "auto" it would vanish over plain HTTP.
    throw new InvalidOptionError("sameSite", '"none" needs secure: true (browsers refuse it without Secure)');
  }
  if (typeof cookiePath !== "string" || !COOKIE_PATH.test(cookiePath)) {
    throw new InvalidOptionError(
      "cookiePath",
      `must start with "/" and hold no spaces, ";" or control characters, got ${JSON.stringify(cookiePath)}`,
    );
  }
  if (typeof partitioned !== "boolean") {
    throw new InvalidOptionError("partitioned", `must be true or false, got ${JSON.stringify(partitioned)}`);
  }
  if (partitioned && secure !== true) {
    // Browsers ignore Partitioned on a cookie that is not Secure.
    throw new InvalidOptionError("partitioned", "needs secure: true (browsers ignore it without Secure)");
  }
  return {
    name: cookieName,
    secure,
    sameSite,
    path: cookiePath,
    domain: resolveDomain(cookieDomain),
    partitioned,
  };
}

function resolveDomain(domain: unknown): string | undefined {
  if (domain === undefined) return undefined;
  const name = typeof domain === "string" ? domain.toLowerCase().replace(/^\./, "") : "";
  const labels = name.split(".");
  if (name.length > 253 || labels.length < 2 || !labels.every((label) => DOMAIN_LABEL.test(label))) {
    // One label ("localhost", "com") is refused: browsers ignore Domain on it or treat it as a public suffix.
    throw new InvalidOptionError(
      "cookieDomain",
      `must be a host name of two or more labels such as "example.com", got ${JSON.stringify(domain)}`,
    );
  }
  return name;
}

/**
 * The cookie's name on a request. Secure: `__Host-<name>` (the browser then refuses it from a
 * subdomain or with another Path, so a sibling subdomain cannot plant one), or `__Secure-<name>` when a
 * Domain or a narrower Path is configured (`__Host-` forbids both).
 */
export function cookieNameFor(settings: CookieSettings, secure: boolean): string {
  if (!secure) return settings.name;
  const hostOnly = settings.domain === undefined && settings.path === "/";
  return (hostOnly ? HOST_PREFIX : SECURE_PREFIX) + settings.name;
}

/** Whether the cookie is Secure on a request that arrived over HTTPS (`https`) or not. */
export function isSecureCookie(settings: CookieSettings, https: boolean): boolean {
  return settings.secure === "auto" ? https : settings.secure;
}

/**
 * The value of cookie `name` in a Cookie header, or undefined when it is absent, present more than once,
 * or implausibly long. The value is not validated here: the session manager rejects malformed tokens
 * without asking the store. A header sent several times (an array) is read as one.
 */
export function readCookie(header: string | readonly string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = typeof header === "string" ? header : header.join("; ");
  if (text.length === 0) return undefined;
  let found: string | undefined;
  let from = 0;
  while (from < text.length) {
    let end = text.indexOf(";", from);
    if (end === -1) end = text.length;
    const eq = text.indexOf("=", from);
    if (eq !== -1 && eq < end && text.slice(from, eq).trim() === name) {
      if (found !== undefined) return undefined;
      found = text.slice(eq + 1, end).trim();
    }
    from = end + 1;
  }
  if (found === undefined || found.length > MAX_VALUE_LENGTH) return undefined;
  return found;
}

export interface CookieAttributes {
  /** Adds `Secure`; the name should then carry the `__Host-` or `__Secure-` prefix. */
  secure: boolean;
  /** Seconds until the browser forgets the cookie; 0 deletes it; undefined: when the browser closes. */
  maxAgeSeconds: number | undefined;
  sameSite?: SameSite;
  /** Default "/". */
  path?: string;
  /** Default none (host-only). */
  domain?: string | undefined;
  /** Adds `Partitioned` (only with `secure`). */
  partitioned?: boolean;
}

const SAME_SITE_TEXT: Record<SameSite, string> = { lax: "Lax", strict: "Strict", none: "None" };

/**
 * A Set-Cookie value: HttpOnly (no script can read the token), SameSite (Lax unless configured), Path
 * ("/" unless configured) and Domain only when configured (none is what the `__Host-` prefix needs).
 */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  const maxAge =
    attributes.maxAgeSeconds === undefined
      ? ""
      : `; Max-Age=${Math.max(0, Math.round(attributes.maxAgeSeconds))}`;
  const domain = attributes.domain === undefined ? "" : `; Domain=${attributes.domain}`;
  const secure = attributes.secure ? "; Secure" : "";
  const sameSite = SAME_SITE_TEXT[attributes.sameSite ?? "lax"];
  const partitioned = attributes.partitioned && attributes.secure ? "; Partitioned" : "";
  return `${name}=${value}${maxAge}${domain}; Path=${attributes.path ?? "/"}; HttpOnly${secure}; SameSite=${sameSite}${partitioned}`;
}
