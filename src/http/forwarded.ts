import { isIP } from "node:net";
import { InvalidOptionError } from "../core/errors.js";

/**
 * Whether `X-Forwarded-Proto` and `X-Forwarded-For` are believed, for adapters whose framework has no
 * proxy setting of its own (Express's `trust proxy` and Fastify's `trustProxy` exist, Hono has none):
 * - `false` (the default): never. Any client can send these headers; believed, they would let it choose
 *   its IP (defeating per-IP limits) and the cookie's Secure flag.
 * - `true`: one proxy (a load balancer) is in front of the app and appends to the headers.
 * - a number n: n proxies in front; the client is the n-th address from the right of X-Forwarded-For.
 */
export type TrustProxy = boolean | number;

/** The number of trusted proxy hops (0: none). */
export function resolveTrustProxy(value: unknown): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return 1;
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 16) return value;
  throw new InvalidOptionError(
    "trustProxy",
    `must be false, true (one proxy in front) or a number of proxy hops from 0 to 16, got ${JSON.stringify(value)}`,
  );
}

/** The entry `hops` from the right of a comma-separated forwarding header, trimmed. */
function fromRight(header: string | string[] | undefined, hops: number): string | undefined {
  if (header === undefined) return undefined;
  const entries = (Array.isArray(header) ? header.join(",") : header).split(",");
  const entry = entries[entries.length - hops];
  return entry?.trim();
}

/**
 * True when the request reached the first trusted proxy over HTTPS (compared without regard to case:
 * "HTTPS" is https), or, with no proxy trusted, when the connection itself is TLS.
 */
export function isHTTPS(
  encrypted: boolean,
  forwardedProto: string | string[] | undefined,
  trustedHops: number,
): boolean {
  if (trustedHops === 0) return encrypted;
  const proto = fromRight(forwardedProto, trustedHops);
  return proto === undefined ? encrypted : proto.toLowerCase() === "https";
}

/**
 * The client's IP: the socket's peer, or with trusted proxies the address the outermost trusted proxy
 * saw, when it is a valid IP address (junk or an over-long value falls back to the socket's).
 */
export function clientIP(
  socketAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  trustedHops: number,
): string {
  const socket = socketAddress ?? "";
  if (trustedHops === 0) return socket;
  const forwarded = fromRight(forwardedFor, trustedHops);
  return forwarded !== undefined && isValidClientIP(forwarded) ? forwarded : socket;
}

/**
 * True for an IPv4 or IPv6 address as a client IP may be written. isIP also accepts an IPv6 zone
 * ("fe80::1%anything"): free text a client would choose, so refused, as is anything over 45 characters.
 */
export function isValidClientIP(value: unknown): value is string {
  return typeof value === "string" && value.length <= 45 && !value.includes("%") && isIP(value) !== 0;
}
