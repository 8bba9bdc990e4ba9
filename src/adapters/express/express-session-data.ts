import { InvalidArgumentError } from "../../core/errors.js";

/**
 * How the drop-in keeps express-session's `req.session` object in latchkey's store: each top-level
 * property is one field of the session's hash, holding its JSON, so that a request writes only the
 * properties it changed (and two requests changing different properties both land). `cookie` and the
 * methods are not data.
 */

/** The JSON text of each stored top-level property, by name. */
export type StoredProperties = ReadonlyMap<string, string>;

/** Properties of `req.session` that are never stored: express-session's Session has them too. */
const NOT_DATA = new Set(["cookie", "id", "req"]);

/**
 * The stored form of a session object: each own enumerable property (other than `cookie`) as JSON. An
 * `undefined` property is absent, as JSON.stringify leaves it out. A value JSON cannot represent (a
 * BigInt, a cycle, a function or symbol) throws InvalidArgumentError naming it, before anything is
 * written.
 */
export function storedPropertiesOf(session: object): Map<string, string> {
  const stored = new Map<string, string>();
  for (const [name, value] of Object.entries(session)) {
    if (NOT_DATA.has(name) || value === undefined) continue;
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (error) {
      throw new InvalidArgumentError(
        `req.session.${name} cannot be stored: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (text === undefined) {
      throw new InvalidArgumentError(`req.session.${name} cannot be stored: a ${typeof value} is not JSON`);
    }
    stored.set(name, text);
  }
  return stored;
}

/**
 * The properties as the session object gets them back from stored fields. A field that does not hold
 * JSON (written by other code than the drop-in, such as a migration's `data`) is taken as a string.
 */
export function propertiesOf(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [name, text] of Object.entries(fields)) {
    if (typeof text !== "string") continue;
    try {
      properties[name] = JSON.parse(text);
    } catch {
      properties[name] = text;
    }
  }
  return properties;
}

/** What one request changed, against what it loaded: the properties to set (as JSON) and to remove. */
export interface PropertyChanges {
  set: Record<string, string>;
  remove: string[];
}

export function changesBetween(loaded: StoredProperties, current: StoredProperties): PropertyChanges {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  for (const [name, text] of current) if (loaded.get(name) !== text) set[name] = text;
  for (const name of loaded.keys()) if (!current.has(name)) remove.push(name);
  return { set, remove };
}

/**
 * Whether a session holding these properties is worth starting (a store write and a cookie): not when
 * every value is empty (`{}`, `[]`, `null`, `""`), as connect-flash leaves `flash: {}` on every read and
 * Passport's logout leaves `passport: {}`.
 */
export function holdsSomething(properties: StoredProperties): boolean {
  for (const text of properties.values()) {
    if (text !== "{}" && text !== "[]" && text !== "null" && text !== '""') return true;
  }
  return false;
}

/**
 * The user a session belongs to, by default Passport's: `req.session.passport.user` when it is a string
 * or a number, or an object with such an `id` (`done(null, { id, username })`).
 */
export function passportUserOf(session: Readonly<Record<string, unknown>>): string | undefined {
  const user = (session.passport as { user?: unknown } | null | undefined)?.user;
  const id = typeof user === "object" && user !== null ? (user as { id?: unknown }).id : user;
  if (typeof id === "string") return id === "" ? undefined : id;
  if (typeof id === "number" && Number.isFinite(id)) return String(id);
  return undefined;
}
