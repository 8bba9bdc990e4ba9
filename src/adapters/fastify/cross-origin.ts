import type { FastifyPluginCallback, FastifyRequest } from "fastify";
import { InvalidOptionError } from "../../index.js";

/**
 * Cross-site request forgery protection by browser headers, after Go's `net/http.CrossOriginProtection`:
 * no tokens in forms, no state. Safe methods (GET, HEAD, OPTIONS) always pass; any other request is
 * refused when `Sec-Fetch-Site` says it came from another site, or, from browsers too old to send
 * `Sec-Fetch-Site`, when its `Origin` does not match the `Host` it was sent to. Requests carrying neither
 * header are not from a browser acting for a user (curl, scripts) and pass.
 */
export interface CrossOriginProtectionOptions {
  /**
   * Origins allowed to send state-changing requests, exactly as browsers send them in `Origin`:
   * scheme, host and non-default port, no path (`"https://admin.example.com"`).
   */
  trustedOrigins?: readonly string[];
}

/** The error a refused request fails with: `statusCode` 403, `code` "LATCHKEY_CROSS_ORIGIN_REQUEST". */
export class CrossOriginRequestError extends Error {
  readonly statusCode = 403;
  readonly code = "LATCHKEY_CROSS_ORIGIN_REQUEST";

  constructor() {
    super("cross-origin request refused");
    this.name = "CrossOriginRequestError";
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Builds the check once, with validated options. True when the request comes from another origin and is
 * not trusted, whatever its method: the plugin applies it to unsafe methods only, and an application can
 * use it to decide how to answer a GET that has side effects (a logout link followed from another site).
 */
export function createCrossOriginCheck(
  options: CrossOriginProtectionOptions = {},
): (request: FastifyRequest) => boolean {
  const trusted = new Set(validateTrustedOrigins(options.trustedOrigins));
  const isTrusted = (origin: string | undefined) => origin !== undefined && trusted.has(origin);

  return (request) => {
    const origin = single(request.headers.origin);
    const site = single(request.headers["sec-fetch-site"]);
    if (site !== undefined) {
      // "none": typed in the address bar, a bookmark. Anything else but same-origin is another site.
      if (site === "same-origin" || site === "none") return false;
      return !isTrusted(origin);
    }
    if (origin === undefined) return false;
    if (sameHost(origin, request.host)) {
      // Host carries no scheme, so an http->https cross-origin request passes here. Like Go we fail
      // open: every current browser sends Sec-Fetch-Site, and HSTS closes the gap.
      return false;
    }
    return !isTrusted(origin);
  };
}

/**
 * Refuses cross-origin state-changing requests with a `CrossOriginRequestError` (403) before their body
 * is read. Registered without encapsulation, so it guards every route of the instance.
 *
 * @example
 * await app.register(crossOriginProtection, { trustedOrigins: ["https://admin.example.com"] });
 */
export const crossOriginProtection: FastifyPluginCallback<CrossOriginProtectionOptions> = Object.assign(
  function crossOriginProtection(
    fastify: Parameters<FastifyPluginCallback<CrossOriginProtectionOptions>>[0],
    options: CrossOriginProtectionOptions,
    done: (error?: Error) => void,
  ) {
    let isCrossOrigin: (request: FastifyRequest) => boolean;
    try {
      isCrossOrigin = createCrossOriginCheck(options);
    } catch (error) {
      done(error as Error);
      return;
    }
    fastify.addHook("onRequest", (request, _reply, next) => {
      if (!SAFE_METHODS.has(request.method) && isCrossOrigin(request)) {
        next(new CrossOriginRequestError());
        return;
      }
      next();
    });
    done();
  },
  {
    [Symbol.for("skip-override")]: true,
    [Symbol.for("fastify.display-name")]: "latchkey-cross-origin-protection",
    [Symbol.for("plugin-meta")]: { name: "latchkey-cross-origin-protection", fastify: "5.x" },
  },
);

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
