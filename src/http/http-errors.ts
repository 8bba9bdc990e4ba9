import { LatchkeyError, type LatchkeyErrorCode } from "../core/errors.js";

/** What a client is told about an error: a status and a message that says nothing about internals. */
export interface HTTPErrorInfo {
  status: number;
  message: string;
}

const UNAVAILABLE = "The service is temporarily unavailable. Please try again in a moment.";
const INTERNAL = "Internal Server Error";
/** Seconds a client is asked to wait after a 503: an outage's usual length is a failover's few seconds. */
const RETRY_AFTER_SECONDS = "5";

/**
 * The one table from latchkey error codes to what an HTTP client sees. Store outages are 503 (try
 * again); a refused cross-site request is 403; a sign-in that lost a race with revocation 409; everything else that reaches a response from the session
 * layer is a programming or configuration error of the application, so a plain 500. No message here
 * quotes an error: Redis addresses and error texts stay in `cause`, for the application's log.
 */
export const HTTP_ERRORS: Readonly<Record<LatchkeyErrorCode, HTTPErrorInfo>> = {
  STORE_UNAVAILABLE: { status: 503, message: UNAVAILABLE },
  STORE_FULL: { status: 503, message: UNAVAILABLE },
  CROSS_ORIGIN_REQUEST: { status: 403, message: "Cross-origin request refused." },
  // A sign-in that raced "log out everywhere" for the same account: the client may simply try again.
  REVOKED: { status: 409, message: "Your sessions were ended while you signed in. Please sign in again." },
  INVALID_ARGUMENT: { status: 500, message: INTERNAL },
  INVALID_OPTION: { status: 500, message: INTERNAL },
  UNSUPPORTED: { status: 500, message: INTERNAL },
};

/**
 * The error every adapter throws (or hands to the framework) for a failed session call: `status` and
 * `statusCode` for the framework's error handler, a generic message that is safe to send (`expose`, in
 * the http-errors convention), the same `code` as the original, which is kept as `cause`.
 */
export class LatchkeyHTTPError extends LatchkeyError {
  readonly status: number;
  readonly statusCode: number;
  /** The message is meant for the client (http-errors / Express convention). */
  readonly expose = true;
  /**
   * Headers to send with the error (the http-errors convention, which Express's and Fastify's default
   * error handlers apply): `Retry-After: 5` on a 503, so that clients and load balancers back off.
   */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: LatchkeyErrorCode, options?: { cause?: unknown }) {
    const { status, message } = HTTP_ERRORS[code];
    super(code, message, options);
    this.name = "LatchkeyHTTPError";
    this.status = status;
    this.statusCode = status;
    this.headers = status === 503 ? { "retry-after": RETRY_AFTER_SECONDS } : {};
    // Default error handlers print the stack in development (Express's finalhandler does, into the
    // response body). This error is only a boundary marker: its frames say nothing, the original's stack
    // is in `cause`, so the stack is the generic message alone and no file path can reach a client.
    this.stack = `${this.name}: ${message}`;
  }

  /**
   * The plain-text response to send for this error. Hono's default error handler sends it (it answers
   * any error that has `getResponse`), so a Hono app without its own `onError` gets the right status.
   */
  getResponse(): Response {
    const headers: Record<string, string> = {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
      ...this.headers,
    };
    return new Response(this.message, { status: this.status, headers });
  }
}

/** A state-changing request from another site, refused by an adapter's crossOriginProtection (403). */
export class CrossOriginRequestError extends LatchkeyHTTPError {
  constructor() {
    super("CROSS_ORIGIN_REQUEST");
    this.name = "CrossOriginRequestError";
    this.stack = `${this.name}: ${this.message}`;
  }
}

/**
 * A latchkey error as the LatchkeyHTTPError to hand to the framework (the original becomes its `cause`);
 * any other error unchanged.
 */
export function toHTTPError(error: unknown): unknown {
  if (error instanceof LatchkeyHTTPError || !(error instanceof LatchkeyError)) return error;
  return new LatchkeyHTTPError(error.code, { cause: error });
}

/** The status and client message for any error: the table for latchkey errors, a plain 500 otherwise. */
export function httpErrorOf(error: unknown): HTTPErrorInfo {
  if (error instanceof LatchkeyError) return HTTP_ERRORS[error.code];
  return { status: 500, message: INTERNAL };
}
