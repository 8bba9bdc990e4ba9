/**
 * Every error latchkey throws is a `LatchkeyError` with a stable `code`, so callers can branch on
 * `error.code` instead of parsing messages. A missing or expired session is never an error: it is `null`.
 */
export const ERROR_CODES = {
  /** The backing store did not answer in time, is disconnected, or refused the command. */
  STORE_UNAVAILABLE: "the session store is unavailable",
  /** An option passed to a factory is missing or out of range; thrown at construction. */
  INVALID_OPTION: "invalid option",
  /** The embedded store reached its size bound and will not drop data to make room. */
  STORE_FULL: "the store is full",
  /** A method was called with an argument it cannot accept (a bad field name, a non-integer step). */
  INVALID_ARGUMENT: "invalid argument",
  /** The store was configured without what the call needs (a Redis store with `userIndex: false`). */
  UNSUPPORTED: "not supported by this store's configuration",
  /**
   * A session could not be created because its user's sessions were revoked (`destroyForUser`) at or
   * after the moment the create began: a login racing "log out everywhere" loses. Try again.
   */
  REVOKED: "the user's sessions were revoked while this one was being created",
  /** An HTTP adapter refused a state-changing request sent from another site (403). */
  CROSS_ORIGIN_REQUEST: "cross-origin request refused",
} as const;

export type LatchkeyErrorCode = keyof typeof ERROR_CODES;

export class LatchkeyError extends Error {
  readonly code: LatchkeyErrorCode;

  constructor(code: LatchkeyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LatchkeyError";
    this.code = code;
  }
}

/** The store could not be reached or did not answer within its command timeout. */
export class StoreUnavailableError extends LatchkeyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STORE_UNAVAILABLE", message, options);
    this.name = "StoreUnavailableError";
  }
}

/** The embedded store reached one of its size bounds and will not drop data to make room. */
export class StoreFullError extends LatchkeyError {
  constructor(message: string) {
    super("STORE_FULL", message);
    this.name = "StoreFullError";
  }
}

/** Thrown by factories when an option is wrong; the message names the option. */
export class InvalidOptionError extends LatchkeyError {
  readonly option: string;
  /** What is wrong, without the option's name (for callers that name it their own way). */
  readonly problem: string;

  constructor(option: string, problem: string) {
    super("INVALID_OPTION", `latchkey: option "${option}" ${problem}`);
    this.name = "InvalidOptionError";
    this.option = option;
    this.problem = problem;
  }
}

export class InvalidArgumentError extends LatchkeyError {
  constructor(message: string) {
    super("INVALID_ARGUMENT", `latchkey: ${message}`);
    this.name = "InvalidArgumentError";
  }
}

/** The call needs a capability the store was configured without; the message names the option. */
export class UnsupportedOperationError extends LatchkeyError {
  constructor(message: string) {
    super("UNSUPPORTED", `latchkey: ${message}`);
    this.name = "UnsupportedOperationError";
  }
}

/**
 * `create` lost a race with `destroyForUser` for the same user: revocation ends every session that
 * existed or was being created when it was called, so this one was never written.
 */
export class SessionRevokedError extends LatchkeyError {
  constructor(message: string) {
    super("REVOKED", `latchkey: ${message}`);
    this.name = "SessionRevokedError";
  }
}

/** True for errors that mean "try again later" rather than "your request is wrong". */
export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof LatchkeyError && error.code === "STORE_UNAVAILABLE";
}
