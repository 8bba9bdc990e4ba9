import { InvalidArgumentError, InvalidOptionError } from "./errors.js";

/**
 * A session's own data is a flat set of named fields, like the Redis hash it lives in. A schema says how
 * each field is encoded so that `load` returns typed values and `increment` only touches integers.
 */
export type FieldKind = "string" | "integer" | "boolean" | "json";
export type FieldSchema = Readonly<Record<string, FieldKind>>;

type ValueOf<K extends FieldKind> = K extends "string"
  ? string
  : K extends "integer"
    ? number
    : K extends "boolean"
      ? boolean
      : unknown;

/** The typed data of a session with schema `S`; every field may be absent. */
export type SessionData<S extends FieldSchema> = { [K in keyof S]?: ValueOf<S[K]> };

/** The names of the integer fields of `S`: the only ones `increment` accepts. */
export type IntegerField<S extends FieldSchema> = {
  [K in keyof S]: S[K] extends "integer" ? K : never;
}[keyof S] &
  string;

const FIELD_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/;
const KINDS: readonly string[] = ["string", "integer", "boolean", "json"];

/** "__proto__" passes the pattern but cannot be a plain object's key: an assignment would drop it. */
const isFieldName = (name: string): boolean => FIELD_NAME.test(name) && name !== "__proto__";

export function assertFieldName(name: string): void {
  if (!isFieldName(name)) {
    throw new InvalidArgumentError(
      `field name ${JSON.stringify(name)} must be 1-64 characters of A-Z a-z 0-9 _ . : -, not start with . : - and not be __proto__`,
    );
  }
}

export function validateSchema(schema: FieldSchema | undefined): void {
  if (schema === undefined) return;
  if (typeof schema !== "object" || schema === null) {
    throw new InvalidOptionError("fields", "must be an object mapping field names to kinds");
  }
  for (const [name, kind] of Object.entries(schema)) {
    if (!isFieldName(name)) {
      throw new InvalidOptionError(
        `fields.${name}`,
        "is not a valid field name (1-64 of A-Z a-z 0-9 _ . : -)",
      );
    }
    if (!KINDS.includes(kind)) {
      throw new InvalidOptionError(
        `fields.${name}`,
        `must be one of ${KINDS.join(", ")}, got ${String(kind)}`,
      );
    }
  }
}

/** Turns typed values into hash strings; `undefined` values are skipped. */
export function encodeFields(schema: FieldSchema | undefined, data: Readonly<Record<string, unknown>>) {
  const encoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(data)) {
    if (value === undefined) continue;
    assertFieldName(name);
    encoded[name] = encodeValue(name, schema ? schema[name] : "string", value, schema === undefined);
  }
  return encoded;
}

function encodeValue(name: string, kind: FieldKind | undefined, value: unknown, schemaless: boolean): string {
  if (kind === undefined) {
    throw new InvalidArgumentError(`field "${name}" is not declared in the session's fields schema`);
  }
  switch (kind) {
    case "string":
      if (typeof value === "string") return value;
      if (schemaless && (typeof value === "number" || typeof value === "boolean")) return String(value);
      break;
    case "integer":
      if (Number.isSafeInteger(value)) return String(value);
      break;
    case "boolean":
      if (typeof value === "boolean") return value ? "1" : "0";
      break;
    case "json": {
      // JSON.stringify returns undefined for a function or symbol, and throws on a bigint or a cycle.
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch {}
      if (text !== undefined) return text;
      break;
    }
  }
  const expected =
    kind === "integer" ? "a safe integer" : kind === "json" ? "JSON-serializable" : `a ${kind}`;
  throw new InvalidArgumentError(`field "${name}" must be ${expected}`);
}

/**
 * Turns hash strings back into typed values. Fields the schema does not declare are left out, and a value
 * that does not decode (written by an older schema) is left out rather than failing the whole load.
 */
export function decodeFields<S extends FieldSchema>(
  schema: S | undefined,
  raw: Readonly<Record<string, string>>,
): SessionData<S> {
  if (schema === undefined) return { ...raw } as SessionData<S>;
  const data: Record<string, unknown> = {};
  // Every page view comes through here: for-in, not Object.entries, so no array per field.
  for (const name in schema) {
    const kind = schema[name] as FieldKind;
    const text = raw[name];
    if (text === undefined) continue;
    const value = decodeValue(kind, text);
    if (value !== undefined) data[name] = value;
  }
  return data as SessionData<S>;
}

function decodeValue(kind: FieldKind, text: string): unknown {
  switch (kind) {
    case "string":
      return text;
    case "integer": {
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : undefined;
    }
    case "boolean":
      return text === "1";
    case "json":
      try {
        return JSON.parse(text);
      } catch {
        return undefined;
      }
  }
}
