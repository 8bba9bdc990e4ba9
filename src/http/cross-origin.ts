import { InvalidOptionError } from "../core/errors.js";

/**
 * Cross-site request forgery protection by browser headers, after Go's `net/http.CrossOriginProtection`:
 * no tokens in forms, no state. Safe methods (GET, HEAD, OPTIONS) always pass; any other request is
 * refused when `Sec-Fetch-Site` says it came from another site, or, from browsers too old to send
 * `Sec-Fetch-Site`, when its `Origin` does not match the `Host` it was sent to. Requests carrying neither
 * header are not from a browser acting for a user (curl, scripts) and pass.
 *
 * This module decides on plain inputs; each adapter reads them from its framework's request.
 */
export interface CrossOriginProtectionOptions {
  /**
   * Origins allowed to send state-changing requests, exactly as browsers send them in `Origin`:
   * scheme, host and non-default port, no path (`"https://admin.example.com"`).
   */
  trustedOrigins?: readonly string[];
}

/** What the decision needs from a request. Header values sent more than once arrive as arrays. */
export interface CrossOriginInputs {
  /** The Host header (or `:authority`), as the client sent it. */
  host: string | undefined;
  origin: string | string[] | undefined;
  secFetchSite: string | string[] | undefined;
}

const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/** True for the methods that never change state (and are never refused). */
export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/**
 * Builds the check once, with validated options. True when the request comes from another origin and is
 * not trusted, whatever its method: the adapters apply it to unsafe methods only, and an application can
 * use it to decide how to answer a GET that has side effects (a logout link followed from another site).
 */
export function createCrossOriginCheck(
  options: CrossOriginProtectionOptions = {},
): (request: CrossOriginInputs) => boolean {
  const trusted = new Set(validateTrustedOrigins(options?.trustedOrigins));
  const isTrusted = (origin: string | undefined) => origin !== undefined && trusted.has(origin);

  return (request) => {
    const origin = single(request.origin);
    const site = single(request.secFetchSite);
    if (site !== undefined) {
      // "none": typed in the address bar, a bookmark. Anything else but same-origin is another site.
      if (site === "same-origin" || site === "none") return false;
      return !isTrusted(origin);
    }
    // Sent twice: no browser does that; refuse rather than guess which one counts.
    if (Array.isArray(request.secFetchSite) || Array.isArray(request.origin)) return true;
    if (origin === undefined) return false;
    if (request.host !== undefined && sameHost(origin, request.host)) {
      // Host carries no scheme, so an http->https cross-origin request passes here. Like Go we fail
      // open: every current browser sends Sec-Fetch-Site, and HSTS closes the gap.
      return false;
    }
    return !isTrusted(origin);
  };
}

function validateTrustedOrigins(origins: unknown): string[] {
  if (origins === undefined) return [];
  if (!Array.isArray(origins)) {
    throw new InvalidOptionError("trustedOrigins", "must be an array of origins like https://example.com");
  }
  return origins.map((origin, index) => {
    let parsed: URL | undefined;
    try {
      parsed = typeof origin === "string" ? new URL(origin) : undefined;
    } catch {}
    if (parsed === undefined || parsed.origin !== origin || !/^https?:$/.test(parsed.protocol)) {
      throw new InvalidOptionError(
        `trustedOrigins[${index}]`,
        `must be an origin as browsers send it (scheme://host[:port], lower case, no path), got ${JSON.stringify(origin)}`,
      );
    }
    return origin;
  });
}

/** A header's value when sent exactly once. */
function single(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/**
 * True when the Origin names the Host the request was sent to. A default port written out in Host
 * ("example.com:443", as some clients and proxies send it) matches an Origin without one.
 */
function sameHost(origin: string, host: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  const defaultPort = parsed.protocol === "https:" ? ":443" : parsed.protocol === "http:" ? ":80" : null;
  let requestHost = host.toLowerCase();
  if (defaultPort !== null && requestHost.endsWith(defaultPort)) {
    requestHost = requestHost.slice(0, -defaultPort.length);
  }
  return parsed.host === requestHost;
}
