export * from "./core/errors.js";
export * from "./core/fields.js";
export * from "./core/session-manager.js";
export * from "./core/session-store.js";
export type { SessionFields, SessionProperty, SessionTypes } from "./core/session-types.js";
export {
  generateToken,
  isWellFormedToken,
  PUBLIC_ID_LENGTH,
  publicIdOf,
  sessionIdOf,
  TOKEN_LENGTH,
  tagOf,
  USER_TAG_LENGTH,
  userTagOf,
} from "./core/token.js";
