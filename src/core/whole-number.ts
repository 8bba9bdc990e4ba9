import { InvalidArgumentError, InvalidOptionError } from "./errors.js";

/**
 * True when `value` is a whole number from `min` to `max`: the one check behind every option, argument
 * and policy value that must be one (timeouts, bounds, steps).
 */
export function isWholeNumber(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/** Throws InvalidOptionError naming `option` unless `value` is a whole number from `min` to `max`. */
export function requireWholeOption(option: string, value: unknown, min: number, max: number): void {
  if (!isWholeNumber(value, min, max)) {
    throw new InvalidOptionError(
      option,
      `must be a whole number from ${min} to ${max}, got ${String(value)}`,
    );
  }
}

/** Throws InvalidArgumentError (`what` names the argument) unless `value` is a whole number in range. */
export function requireWholeArgument(what: string, value: unknown, min: number, max: number): number {
  if (!isWholeNumber(value, min, max)) {
    throw new InvalidArgumentError(
      `${what} must be a whole number from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return value;
}
