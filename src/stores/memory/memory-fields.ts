import { InvalidArgumentError } from "../../core/errors.js";
import type { FieldIncrements } from "../../core/session-store.js";

/** What Redis accepts as an integer for HINCRBY: no sign on zero, no leading zeros, no spaces. */
const INTEGER_TEXT = /^(0|-?[1-9][0-9]*)$/;

/**
 * The new value of `field` after adding `by`, without writing it. Like Redis HINCRBY, a missing field
 * counts from 0 and a value that is not an integer is an error; unlike Redis (64-bit), values must stay
 * within JavaScript's safe integers so that every count is exact.
 */
function added(fields: ReadonlyMap<string, string>, field: string, by: number): string {
  const text = fields.get(field) ?? "0";
  const current = Number(text);
  if (!INTEGER_TEXT.test(text) || !Number.isSafeInteger(current)) {
    throw new InvalidArgumentError(`field "${field}" holds ${JSON.stringify(text)}, not an integer`);
  }
  const next = current + by;
  if (!Number.isSafeInteger(next)) {
    throw new InvalidArgumentError(`incrementing "${field}" by ${by} would leave the safe integer range`);
  }
  return String(next);
}

/**
 * The session's own fields after `set` and `remove`, and its flash messages after `flash`, must hold at
 * most `maxBytes` together (names and values, UTF-8), as the Redis update script counts them.
 */
export function assertFitsWithin(
  entry: { readonly fields: ReadonlyMap<string, string>; readonly flash: ReadonlyMap<string, string> },
  set: Readonly<Record<string, string>>,
  remove: readonly string[],
  flash: Readonly<Record<string, string>>,
  maxBytes: number,
): void {
  const size = (name: string, value: string) => Buffer.byteLength(name) + Buffer.byteLength(value);
  const sizes = new Map<string, number>();
  for (const [name, value] of entry.fields) sizes.set(name, size(name, value));
  for (const [name, value] of Object.entries(set)) sizes.set(name, size(name, value));
  for (const name of remove) sizes.delete(name);
  const messages = new Map<string, number>();
  for (const [name, text] of entry.flash) messages.set(name, size(name, text));
  for (const [name, text] of Object.entries(flash)) messages.set(name, size(name, text));
  let total = 0;
  for (const bytes of sizes.values()) total += bytes;
  for (const bytes of messages.values()) total += bytes;
  if (total > maxBytes) {
    throw new InvalidArgumentError(
      `the session would hold ${total} bytes of fields, over its limit of ${maxBytes}: nothing was written`,
    );
  }
}

/**
 * All the new values of a multi-field increment, computed (and checked) before any is written, so that
 * a failing step leaves the session as it was.
 */
export function addAll(fields: ReadonlyMap<string, string>, steps: FieldIncrements): [string, string][] {
  return Object.entries(steps).map(([field, by]) => [field, added(fields, field, by)]);
}
