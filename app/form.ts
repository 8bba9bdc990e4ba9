import type { FastifyInstance } from "fastify";

/**
 * A strict parser for `application/x-www-form-urlencoded` bodies, the only body type the app accepts
 * (any other is 415). Invalid UTF-8, malformed percent-encoding, a repeated field or too many fields
 * is a 400: hostile input ends in a clear client error, never in a 5xx.
 */

/** Thrown for a body or field the app cannot accept; the error handler renders it as a 400 page. */
export class BadFormError extends Error {
  readonly statusCode = 400;
  readonly code = "APP_BAD_FORM";

  constructor(message: string) {
    super(message);
    this.name = "BadFormError";
  }
}

const MAX_FIELDS = 16;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export type FormFields = Record<string, string>;

export function parseForm(body: Buffer): FormFields {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new BadFormError("The form is not valid UTF-8.");
  }
  const fields: FormFields = Object.create(null);
  if (text === "") return fields;
  const pairs = text.split("&");
  if (pairs.length > MAX_FIELDS) throw new BadFormError("The form has too many fields.");
  for (const pair of pairs) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = decode(eq === -1 ? "" : pair.slice(eq + 1));
    if (Object.hasOwn(fields, name)) throw new BadFormError(`The field "${name}" is sent more than once.`);
    fields[name] = value;
  }
  return fields;
}

function decode(component: string): string {
  try {
    return decodeURIComponent(component.replaceAll("+", " "));
  } catch {
    throw new BadFormError("The form has malformed percent-encoding.");
  }
}

/** The named fields as strings; a missing or non-text field is a 400. Other fields are ignored. */
export function requireFields<const K extends string>(body: unknown, names: readonly K[]): Record<K, string> {
  if (typeof body !== "object" || body === null) throw new BadFormError("The form is missing.");
  const fields = body as Record<string, unknown>;
  const out = {} as Record<K, string>;
  for (const name of names) {
    const value = Object.hasOwn(fields, name) ? fields[name] : undefined;
    if (typeof value !== "string") throw new BadFormError(`The field "${name}" is missing.`);
    out[name] = value;
  }
  return out;
}

/** Makes form bodies the only accepted body type of `app`. */
export function acceptOnlyForms(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "buffer" },
    (_request, body: Buffer, done) => {
      try {
        done(null, parseForm(body));
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );
}
