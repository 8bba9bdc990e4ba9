import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { clientIP, isHTTPS, isValidClientIP } from "../../http/forwarded.js";

/** What a request says of its client, as the Express middlewares' proxy trust sees it. */
export interface RequestOrigin {
  /** Whether the request arrived over HTTPS (for the cookie's Secure flag and name). */
  https(): boolean;
  /** The client IP kept with a session ("" when unknown). */
  ip(): string;
}

/**
 * The request's protocol and client IP: by the middleware's own `trustProxy` (`hops`) when it was
 * given; else by Express's `trust proxy` when the app set it (`req.protocol`, `req.ip`, with all of
 * Express's forms); else from the socket alone.
 */
export function requestOrigin(req: IncomingMessage, hops: number | undefined): RequestOrigin {
  const express = hops === undefined ? expressProxyTrust(req) : undefined;
  if (express) {
    return {
      https: () => express.protocol === "https",
      ip: () => (isValidClientIP(express.ip) ? express.ip : (req.socket.remoteAddress ?? "")),
    };
  }
  return {
    https: () => isHTTPS(isEncrypted(req), req.headers["x-forwarded-proto"], hops ?? 0),
    ip: () => clientIP(req.socket.remoteAddress, req.headers["x-forwarded-for"], hops ?? 0),
  };
}

/** The parts of Express's request that its `trust proxy` setting governs. */
interface ExpressRequest {
  app?: { get?: (setting: string) => unknown };
  readonly protocol?: string;
  readonly ip?: string;
}

/**
 * Express's request when the app set `trust proxy` (Express's default is false, and latchkey's then
 * believes no forwarding header); undefined otherwise, and outside Express (a bare node:http server).
 */
function expressProxyTrust(req: IncomingMessage): ExpressRequest | undefined {
  const express = req as IncomingMessage & ExpressRequest;
  const setting = typeof express.app?.get === "function" ? express.app.get("trust proxy") : undefined;
  return setting === undefined || setting === false || setting === 0 ? undefined : express;
}

function isEncrypted(req: IncomingMessage): boolean {
  return (req.socket as Partial<TLSSocket>).encrypted === true;
}
