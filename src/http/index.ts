/**
 * `latchkey/http`: the framework-neutral HTTP layer every adapter is built on (cookie reading and
 * writing, the request session, the cross-origin check, proxy headers, the error-to-status table). Use
 * it to bind latchkey to a framework it has no adapter for.
 */
export {
  type ResolvedAdapterOptions,
  resolveAdapterOptions,
  type SessionAdapterOptions,
} from "./adapter-options.js";
export {
  type CookieAttributes,
  type CookieSettings,
  cookieNameFor,
  isSecureCookie,
  isValidCookieName,
  readCookie,
  resolveCookieSettings,
  type SameSite,
  type SessionCookieOptions,
  serializeCookie,
} from "./cookie.js";
export {
  type CrossOriginInputs,
  type CrossOriginProtectionOptions,
  createCrossOriginCheck,
  isSafeMethod,
} from "./cross-origin.js";
export { clientIP, isHTTPS, isValidClientIP, resolveTrustProxy, type TrustProxy } from "./forwarded.js";
export {
  CrossOriginRequestError,
  HTTP_ERRORS,
  type HTTPErrorInfo,
  httpErrorOf,
  LatchkeyHTTPError,
  toHTTPError,
} from "./http-errors.js";
export { type RequestSession, RequestSessionContext, type SessionExchange } from "./request-session.js";
