import {
  InvalidArgumentError,
  LatchkeyError,
  SessionRevokedError,
  StoreUnavailableError,
} from "../../core/errors.js";
import { CommandTimeoutError, type RedisDriver } from "./driver.js";
import { INVALID_ARGUMENT_REPLY, REVOKED_REPLY } from "./scripts.js";

/**
 * Runs one Redis round trip for a store operation and turns every failure into a latchkey error.
 *
 * - Fails at once (no queueing) while the connection is known to be down or the store is closed.
 * - Bounds the call by `commandTimeoutMs` where the driver does not (`boundsCommands`): an ioredis
 *   Cluster queues commands while it has no slot map, and a caller's ioredis client may have no
 *   `commandTimeout`.
 * - Maps connection errors, timeouts and refusals (NOAUTH, READONLY, OOM, CLUSTERDOWN, ...) to
 *   StoreUnavailableError with the client's error as `cause`; a script's LATCHKEY_INVALID reply becomes
 *   InvalidArgumentError, and LATCHKEY_REVOKED SessionRevokedError.
 */
export type RunCommand = <T>(operation: string, call: () => Promise<T>) => Promise<T>;

/** The `run` function of a store: see RunCommand. */

/** What the runner needs to know of a driver. */
export type ConnectionState = Pick<
  RedisDriver,
  "kind" | "tls" | "boundsCommands" | "offlineReason" | "lastError" | "clearLastError"
>;

export function createCommandRunner(connection: ConnectionState, commandTimeoutMs: number): RunCommand {
  const fail = (operation: string, problem: string, cause?: unknown): StoreUnavailableError => {
    const last = connection.lastError();
    const lastText =
      last && !problem.includes(last.message) ? `; last connection error: ${last.message}` : "";
    const text = `${problem}${lastText}`;
    return new StoreUnavailableError(
      `latchkey: ${connection.kind} ${operation} failed: ${text}${hintFor(text, connection.tls)}`,
      {
        cause: cause ?? last ?? new Error(problem),
      },
    );
  };

  /** The latchkey error a failed call turns into. */
  const translate = (operation: string, error: unknown): Error => {
    if (error instanceof LatchkeyError) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (message.startsWith(INVALID_ARGUMENT_REPLY)) {
      return new InvalidArgumentError(message.slice(INVALID_ARGUMENT_REPLY.length));
    }
    if (message.startsWith(REVOKED_REPLY))
      return new SessionRevokedError(message.slice(REVOKED_REPLY.length));
    // ioredis's commandTimeout, or a driver that bounds calls itself.
    if (message === "Command timed out" || error instanceof CommandTimeoutError)
      return fail(operation, `no reply within ${commandTimeoutMs} ms`, error);
    // With maxRetriesPerRequest 0, ioredis fails queued commands with this error when a connection
    // attempt fails: the connection error itself says more.
    if (error instanceof Error && error.name === "MaxRetriesPerRequestError") {
      return fail(operation, "could not connect", connection.lastError() ?? error);
    }
    return fail(operation, message, error);
  };
  const succeeded = <T>(result: T): T => {
    connection.clearLastError();
    return result;
  };

  /** Where ioredis cannot bound the call: a guard timer fires a little after its own commandTimeout. */
  const guarded = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      // Where both apply, the ioredis error (with its details) wins.
      const guard = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no reply within ${commandTimeoutMs} ms`)),
          commandTimeoutMs + 20,
        );
      });
      return succeeded(await Promise.race([call(), guard]));
    } catch (error) {
      throw translate(operation, error);
    } finally {
      clearTimeout(timer);
    }
  };

  return function run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const offline = connection.offlineReason();
    if (offline !== undefined) return Promise.reject(fail(operation, offline));
    if (!connection.boundsCommands) return guarded(operation, call);
    // The hot path (every page view): the client or driver bounds the call, so no timer here, and
    // one `then` instead of an async frame with try/catch.
    try {
      return call().then(succeeded, (error: unknown) => {
        throw translate(operation, error);
      });
    } catch (error) {
      return Promise.reject(translate(operation, error));
    }
  };
}

/** Node's messages for a certificate chain that does not end at a CA the client trusts. */
const UNTRUSTED_CERTIFICATE =
  /self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer/;

/** A next step for the errors that mean "your configuration is wrong" rather than "Redis is down". */
function hintFor(text: string, tls: boolean): string {
  if (text.includes("WRONGPASS")) return " (check the user name and password in the URL)";
  if (text.includes("NOAUTH")) return " (the server requires a password: redis://[user]:password@host)";
  if (text.includes("NOPERM")) return " (the ACL user lacks a permission the store needs; see the README)";
  if (UNTRUSTED_CERTIFICATE.test(text)) {
    return " (the server's TLS certificate is not trusted: pass the CA that signed it as tls: { ca })";
  }
  if (text.includes("does not match certificate's altnames")) {
    return " (connect with a host name that the server's TLS certificate is for)";
  }
  // A TLS-only server (ElastiCache with encryption in transit) resets a plain connection at its first
  // command, without a reply.
  if (!tls && text.includes("ECONNRESET")) return " (if the server accepts only TLS, use rediss://)";
  // ioredis does not report why no seed node answered: a TLS mismatch looks like a closed connection.
  if (text.includes("Failed to refresh slots cache")) {
    return " (no seed node answered: check the addresses, and rediss:// and tls: { ca } against the nodes)";
  }
  return "";
}
