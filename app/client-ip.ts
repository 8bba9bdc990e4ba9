import { isIPv6 } from "node:net";
import type { FastifyRequest } from "fastify";
import { isValidClientIP } from "latchkey/http";

/**
 * The client's IP: Fastify's `request.ip` (X-Forwarded-For under TRUST_PROXY) when it is a valid IP
 * address, else the socket's peer. A junk or 12 KB forwarded value never becomes the IP that is stored
 * with a session or used in a throttle key.
 */
export function clientIPOf(request: FastifyRequest): string {
  return isValidClientIP(request.ip) ? request.ip : (request.socket.remoteAddress ?? "");
}

/**
 * What a per-client throttle counts by: an IPv4 address itself, an IPv6 address by its /64 (one
 * subscriber's network: a client that holds a /64 can change the rest at will), an IPv4-mapped IPv6
 * address as the IPv4 address it is.
 */
export function throttleKeyOf(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return mapped[1];
  if (!isIPv6(ip)) return ip;
  return `${expandIPv6(ip).slice(0, 4).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, without leading zeros ("2001:db8::1" -> 2001, db8, 0, ...). */
function expandIPv6(ip: string): string[] {
  const [head = "", tail] = ip.toLowerCase().split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  // An embedded IPv4 tail ("::1.2.3.4") counts as two groups.
  const groups = (part: string) =>
    parse(part).flatMap((group) => {
      if (!group.includes(".")) return [group];
      const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
      return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    });
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => "0");
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16).toString(16));
}
