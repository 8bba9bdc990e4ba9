import type { FieldSchema } from "./fields.js";

/**
 * A registry for typing every adapter's request session (`req.session`, `request.session`,
 * `c.get("session")`) with your schema. Augment it once in your application, whichever framework it uses:
 *
 * @example
 * const fields = { username: "string", visits: "integer" } as const; // `as const` keeps the kinds literal
 * declare module "latchkey" {
 *   interface SessionTypes { fields: typeof fields }
 * }
 *
 * With `expressSession()` (the express-session drop-in of `latchkey/express`), register
 * `express: "express-session"` instead: `req.session` is then typed by @types/express-session.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by applications through declaration merging.
export interface SessionTypes {}

/** The field schema registered in `SessionTypes`, or any fields when none is. */
export type SessionFields = SessionTypes extends { fields: infer F extends FieldSchema } ? F : FieldSchema;

/**
 * The name under which the adapters hand out the request session: `req.<name>` (Express),
 * `request.<name>` (Fastify), `c.get("<name>")` (Hono). "session" unless `SessionTypes` registers another
 * `property` (with the same `property` option given to the adapter), e.g. to run beside express-session
 * or @fastify/session, which own `session`, while an application migrates.
 */
export type SessionProperty = SessionTypes extends { property: infer P extends string } ? P : "session";
