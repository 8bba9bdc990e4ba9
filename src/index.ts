/**
 * `latchkey`: the session engine. What an application needs (the manager, its options and results, the
 * field schema types, the errors) and what a backend author needs (the `SessionStore` contract and its
 * types), named one by one; everything else is internal.
 * @module
 */
export {
  ERROR_CODES,
  InvalidArgumentError,
  InvalidOptionError,
  isStoreUnavailable,
  LatchkeyError,
  type LatchkeyErrorCode,
  SessionRevokedError,
  StoreFullError,
  StoreUnavailableError,
  UnsupportedOperationError,
} from "./core/errors.js";
export type { FieldKind, FieldSchema, IntegerField, SessionData } from "./core/fields.js";
export {
  CHANNELS,
  type LoadMissReason,
  type SessionCreatedEvent,
  type SessionDestroyedEvent,
  type SessionEndReason,
  type SessionEvent,
  type SessionLoadedMessage,
  type SessionLoadMissedEvent,
  type SessionPromotedEvent,
  type SessionRenewedEvent,
  type SessionRotatedEvent,
  type StoreCallMessage,
  type StoreFailedEvent,
  type StoreOperation,
} from "./core/session-events.js";
export {
  type CreatedSession,
  type CreateSessionOptions,
  createSessionManager,
  type DestroyForUserOptions,
  type LoadOptions,
  type PromoteOptions,
  type Session,
  type SessionManager,
  type SessionManagerOptions,
} from "./core/session-manager.js";
export type {
  CreatePolicy,
  FieldIncrements,
  RecordInsertOptions,
  RecordStore,
  RecordUpdateOptions,
  SessionChanges,
  SessionStore,
  StoredSession,
  StoreHealth,
  StoreHealthStatus,
  StoreNodeHealth,
  StoreNodePersistence,
  StorePersistence,
  TouchPolicy,
} from "./core/session-store.js";
export { idleDeadlineOf } from "./core/session-store.js";
export type { SessionFields, SessionProperty, SessionTypes } from "./core/session-types.js";
export { isWellFormedToken, PUBLIC_ID_LENGTH, TOKEN_LENGTH, userTagOf } from "./core/token.js";
