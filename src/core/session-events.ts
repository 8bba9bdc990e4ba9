import { channel } from "node:diagnostics_channel";

/**
 * What the session manager tells an operator, as events: on `node:diagnostics_channel` (one named
 * channel per kind, `latchkey:session:created` ...) and through the manager's `onEvent` option. A
 * payload names a session by its public id (`Session.id`) and its user, never by its token or its
 * storage id. Nothing is built, and nothing is published, while a channel has no subscriber and no
 * `onEvent` is given.
 */

/** Why a session ended. */
export type SessionEndReason =
  /** `destroy(token)`: the user logged out. */
  | "logout"
  /** `destroyById(userId, publicId)`: ended from the user's list of sessions (or by an operator). */
  | "by_id"
  /** `destroyForUser(userId)`: "log out everywhere", or an operator's revocation. */
  | "per_user"
  /** A create beyond `maxSessionsPerUser` ended the user's oldest sessions. */
  | "over_cap"
  /** A load found it past its idle deadline (a store that keeps it that long: the memory store). */
  | "idle_expiry"
  /** A load found it past its absolute end (before Redis's TTL removed it: clocks that differ). */
  | "absolute_expiry";

/**
 * What a load that found no session found: a token that cannot be one (`malformed`: the store is not
 * asked), no session (`unknown`: never created, ended, or expired and gone: Redis removes a session
 * when its TTL runs out and keeps nothing to tell these apart), or a session the store found expired
 * and deleted (`expired`, with a `destroyed` event saying which deadline passed).
 */
export type LoadMissReason = "malformed" | "unknown" | "expired";

/** A store call's result, for the store-call channel and the duration histogram. */
export type StoreOperation =
  | "create"
  | "load"
  | "update"
  | "rotate"
  | "destroy"
  | "take"
  | "listForUser"
  | "destroyById"
  | "destroyForUser";

export interface SessionCreatedEvent {
  type: "created";
  publicId: string;
  /** null for an anonymous session (`createAnonymous`). */
  userId: string | null;
}

export interface SessionPromotedEvent {
  type: "promoted";
  /** The new (logged-in) session. */
  publicId: string;
  userId: string;
  /** The anonymous session it replaced (ended in the same step), null when there was none. */
  previousPublicId: string | null;
}

export interface SessionRotatedEvent {
  type: "rotated";
  publicId: string;
  previousPublicId: string;
  userId: string | null;
}

/**
 * A session's token was renewed (`renewAfterSeconds`): the session goes on under a new token (and public
 * id); the old one forwards to it for `renewGraceSeconds`, then is dead. Sent once per renewal, by the
 * request that renewed it.
 */
export interface SessionRenewedEvent {
  type: "renewed";
  publicId: string;
  previousPublicId: string;
  userId: string | null;
}

export interface SessionDestroyedEvent {
  type: "destroyed";
  reason: SessionEndReason;
  /** The ended session; null when several ended at once (`per_user`, `over_cap`: see `count`). */
  publicId: string | null;
  /** The user; null when the store does not say whose session it was (`logout`, the expiries). */
  userId: string | null;
  /** How many sessions ended (1, except for `per_user` and `over_cap`). */
  count: number;
}

export interface SessionLoadMissedEvent {
  type: "load_missed";
  reason: LoadMissReason;
  /** The public id the token would have had, null for a malformed token. */
  publicId: string | null;
}

export interface StoreFailedEvent {
  type: "store_failed";
  operation: StoreOperation;
  durationMs: number;
  /** The error's latchkey code (`STORE_UNAVAILABLE`, ...), or "UNKNOWN" for another error. */
  code: string;
  /** The error's message (the store's messages name servers, never credentials). */
  message: string;
}

/** Every event of `onEvent`, by its `type`. */
export type SessionEvent =
  | SessionCreatedEvent
  | SessionPromotedEvent
  | SessionRotatedEvent
  | SessionRenewedEvent
  | SessionDestroyedEvent
  | SessionLoadMissedEvent
  | StoreFailedEvent;

/** Published for every load (found or not), for counters of loads by result; not an `onEvent` event. */
export interface SessionLoadedMessage {
  result: "found" | LoadMissReason;
}

/** Published after every store call (for the duration histogram); not an `onEvent` event. */
export interface StoreCallMessage {
  operation: StoreOperation;
  /** The store's `kind` ("memory", "redis", "redis-cluster" ...). */
  store: string;
  durationMs: number;
  /** "ok", or the error's code. */
  outcome: string;
}

/** The names of latchkey's diagnostics channels. */
export const CHANNELS = {
  created: "latchkey:session:created",
  promoted: "latchkey:session:promoted",
  rotated: "latchkey:session:rotated",
  renewed: "latchkey:session:renewed",
  destroyed: "latchkey:session:destroyed",
  load_missed: "latchkey:session:load-missed",
  store_failed: "latchkey:store:failed",
  loaded: "latchkey:session:loaded",
  storeCall: "latchkey:store:call",
} as const;

/** The channel of each `onEvent` type. */
export const eventChannels = {
  created: channel(CHANNELS.created),
  promoted: channel(CHANNELS.promoted),
  rotated: channel(CHANNELS.rotated),
  renewed: channel(CHANNELS.renewed),
  destroyed: channel(CHANNELS.destroyed),
  load_missed: channel(CHANNELS.load_missed),
  store_failed: channel(CHANNELS.store_failed),
};
export const loadedChannel = channel(CHANNELS.loaded);
export const storeCallChannel = channel(CHANNELS.storeCall);
