import {
  InvalidArgumentError,
  LatchkeyError,
  SessionRevokedError,
  StoreUnavailableError,
} from "../../core/errors.js";
import { CommandTimeoutError, createCommandDeadline, type Deadline } from "./command-deadline.js";
import type { RedisDriver } from "./driver.js";
import { INVALID_ARGUMENT_REPLY, REVOKED_REPLY } from "./lua.js";

/**
 * Runs one Redis round trip for a store operation and turns every failure into a latchkey error.
 *
 * - Fails at once (no queueing) while the connection is known to be down or the store is closed.
 * - Bounds the call by `commandTimeoutMs`: the runner owns the deadline (`command-deadline.ts`) and
 *   hands the call its deadline signal, for either client library (an ioredis Cluster queues commands while
 *   it has no slot map, a caller's client may have no timeout of its own: the bound is the same).
 * - Maps connection errors, timeouts and refusals (NOAUTH, READONLY, OOM, CLUSTERDOWN, ...) to
 *   StoreUnavailableError with the client's error as `cause`; a script's LATCHKEY_INVALID reply becomes
 *   InvalidArgumentError, and LATCHKEY_REVOKED SessionRevokedError.
 */
export type RunCommand = <T, R = T>(
  operation: string,
  call: (deadline: Deadline) => Promise<T>,
  /** Maps the reply on the way out (the page view's decoding), without a promise of its own. */
  map?: (value: T) => R,
) => Promise<R>;

/** The `run` function of a store: see RunCommand. */

/** What the runner needs to know of a driver. */
export type ConnectionState = Pick<
  RedisDriver,
  "kind" | "tls" | "offlineReason" | "lastError" | "clearLastError"
>;

export function createCommandRunner(connection: ConnectionState, commandTimeoutMs: number): RunCommand {
  const deadlines = createCommandDeadline(commandTimeoutMs);
  /** Whether any call succeeded yet: a reset after that is a restart, not a TLS mismatch. */
  let answeredBefore = false;
  const fail = (operation: string, problem: string, cause?: unknown): StoreUnavailableError => {
    const last = connection.lastError();
    const lastText =
      last && !problem.includes(last.message) ? `; last connection error: ${last.message}` : "";
    const text = `${problem}${lastText}`;
    const meaning = meaningOf(text, answeredBefore);
    const hint = hintFor(text, connection.tls, answeredBefore);
    return new StoreUnavailableError(
      `latchkey: ${connection.kind} ${operation} failed: ${meaning ? `${meaning}: ` : ""}${text}${hint}`,
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
    // The runner's deadline, or the commandTimeout of a caller's own ioredis client.
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
    answeredBefore = true;
    connection.clearLastError();
    return result;
  };

  // Not async: the page-view path is one `then` on the bounded call.
  return function run<T, R = T>(
    operation: string,
    call: (deadline: Deadline) => Promise<T>,
    map?: (value: T) => R,
  ): Promise<R> {
    const offline = connection.offlineReason();
    if (offline !== undefined) return Promise.reject(fail(operation, offline));
    return deadlines.bound(
      call,
      map === undefined ? (succeeded as (value: T) => R) : (value) => map(succeeded(value)),
      (error) => translate(operation, error),
    );
  };
}

/**
 * What a refusal or a socket error means, in an operator's words, put before Redis's own text (which
 * stays, for searching): the first rule that matches wins, so a refusal beats the connection error
 * quoted after it.
 */
const MEANINGS: readonly { pattern: RegExp; meaning: string; onlyAfterAnswer?: true }[] = [
  {
    pattern: /\bOOM command not allowed/,
    meaning:
      "Redis is out of memory (maxmemory reached; maxmemory-policy noeviction, or nothing it may evict): it refuses writes",
  },
  {
    pattern: /\bLOADING\b/,
    meaning: "Redis is loading its dataset (after a restart); it answers once loaded",
  },
  {
    pattern: /\bCLUSTERDOWN\b/,
    meaning: "the Cluster is down (CLUSTERDOWN): a master failed or is failing over",
  },
  { pattern: /\bTRYAGAIN\b/, meaning: "a Cluster master is failing over or a slot is moving (TRYAGAIN)" },
  { pattern: /\bMASTERDOWN\b/, meaning: "the replica lost its master (MASTERDOWN): a failover is under way" },
  {
    pattern: /\bREADONLY\b/,
    meaning:
      "the server is a read-only replica (READONLY): a failover is under way, or the address names a replica",
  },
  { pattern: /\bMISCONF\b/, meaning: "Redis refuses writes because its last RDB snapshot failed (MISCONF)" },
  { pattern: /ECONNREFUSED/, meaning: "connection refused (Redis is not running there, or is restarting)" },
  { pattern: /ECONNRESET/, meaning: "connection reset (the server restarted?)", onlyAfterAnswer: true },
  {
    pattern: /Connection is closed/,
    meaning: "the connection closed (the server restarted?)",
    onlyAfterAnswer: true,
  },
  // A clean close (a restart or SHUTDOWN) reports no error at all: ioredis is just reconnecting.
  {
    pattern: /^not connected \(ioredis status "reconnecting"\)$/,
    meaning: "Redis closed the connection (restarted or shut down?); reconnecting",
    onlyAfterAnswer: true,
  },
];

function meaningOf(text: string, answeredBefore: boolean): string | undefined {
  for (const { pattern, meaning, onlyAfterAnswer } of MEANINGS) {
    if (onlyAfterAnswer && !answeredBefore) continue;
    if (pattern.test(text)) return meaning;
  }
  return undefined;
}

/** Node's messages for a certificate chain that does not end at a CA the client trusts. */
const UNTRUSTED_CERTIFICATE =
  /self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer/;

/** A next step for the errors that mean "your configuration is wrong" rather than "Redis is down". */
function hintFor(text: string, tls: boolean, answeredBefore: boolean): string {
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
  // command, without a reply. Once the store has had an answer, a reset is a restart or a network fault.
  if (!tls && !answeredBefore && text.includes("ECONNRESET")) {
    return " (if the server accepts only TLS, use rediss://)";
  }
  // ioredis does not report why no seed node answered: a TLS mismatch looks like a closed connection.
  if (text.includes("Failed to refresh slots cache")) {
    return " (no seed node answered: check the addresses, and rediss:// and tls: { ca } against the nodes)";
  }
  return "";
}
