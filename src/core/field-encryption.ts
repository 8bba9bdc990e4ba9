import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { InvalidOptionError } from "./errors.js";
import type { FieldSchema } from "./fields.js";

/**
 * Encrypted fields (`encryptFields`): AES-256-GCM under a key derived from the session's token, which
 * is stored nowhere, so no store value, dump, replica or MONITOR line shows the plaintext, and nobody
 * without the cookie can read it.
 *
 * The key is HKDF-SHA-256 of the token (a fixed salt and info naming this scheme): the manager derives
 * it from the token it is given, so `set` and `load` need no key from the store, and a rotation
 * re-encrypts under the new token's key (the old token then reads nothing of the new session). Each
 * value gets a random 96-bit IV (a session's key encrypts far fewer than the 2^32 values that random
 * IVs allow) and the field's name as additional authenticated data, so that a value moved to another
 * field fails its tag like a tampered one.
 *
 * Stored form: `v1.` + base64url(IV | ciphertext | 16-byte tag).
 */

const VERSION = "v1.";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SALT = "latchkey encrypted fields v1";
const INFO = "latchkey field key";

/**
 * The AES-256 key of a token's encrypted fields (32 bytes): HKDF-SHA-256 (RFC 5869) of the token with
 * SALT and INFO, written out as its two HMACs (extract, then the one expand block 32 bytes need), which
 * is what `crypto.hkdfSync` computes (the unit test compares them) at half its cost per page view.
 */
export function fieldKeyOf(token: string): Buffer {
  const pseudorandomKey = createHmac("sha256", SALT).update(token).digest();
  return createHmac("sha256", pseudorandomKey).update(INFO).update(EXPAND_BLOCK_1).digest();
}

/** HKDF's expand counter for its first (and here only) block. */
const EXPAND_BLOCK_1 = Buffer.from([1]);

/** `plaintext` of field `name`, encrypted under `key`, in its stored form. */
export function encryptValue(key: Buffer, name: string, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(name));
  const body = Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return VERSION + body.toString("base64url");
}

/**
 * The plaintext of a stored value of field `name`, or undefined when it does not decrypt under `key`
 * (another token's, tampered with, moved from another field, or not in the stored form): never throws.
 */
export function decryptValue(key: Buffer, name: string, stored: string): string | undefined {
  if (!stored.startsWith(VERSION)) return undefined;
  const body = Buffer.from(stored.slice(VERSION.length), "base64url");
  if (body.length < IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, body.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(name));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return (
      decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES), undefined, "utf8") +
      decipher.final("utf8")
    );
  } catch {
    return undefined;
  }
}

/** A copy of `fields` with each of `names` that it holds encrypted under `key`. */
export function encryptFields(
  key: Buffer,
  names: readonly string[],
  fields: Readonly<Record<string, string>>,
): Record<string, string> {
  const out = { ...fields };
  for (const name of names) {
    const value = fields[name];
    if (value !== undefined) out[name] = encryptValue(key, name, value);
  }
  return out;
}

/**
 * A copy of `fields` with each of `names` decrypted under the key of `token`, or left out when it does
 * not decrypt or there is no token (a listing: the store holds no token). `fields` itself when it holds
 * none of them, so a session without encrypted values costs no key derivation.
 */
export function decryptFields(
  token: string | undefined,
  names: readonly string[],
  fields: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  let out: Record<string, string> | undefined;
  let key: Buffer | undefined;
  for (const name of names) {
    const stored = fields[name];
    if (stored === undefined) continue;
    out ??= { ...fields };
    if (token === undefined) {
      delete out[name];
      continue;
    }
    key ??= fieldKeyOf(token);
    const plaintext = decryptValue(key, name, stored);
    if (plaintext === undefined) delete out[name];
    else out[name] = plaintext;
  }
  return out ?? fields;
}

/**
 * `encryptFields` names declared "string" or "json" fields: an integer (or boolean) is counted and
 * compared by the store, which could not do it on ciphertext.
 */
export function validateEncryptFields(schema: FieldSchema | undefined, names: unknown): void {
  if (!Array.isArray(names)) throw new InvalidOptionError("encryptFields", "must be an array of field names");
  for (const name of names) {
    const kind = typeof name === "string" && schema && Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (kind === undefined) {
      throw new InvalidOptionError(
        "encryptFields",
        `names ${JSON.stringify(name)}, which is not declared in fields`,
      );
    }
    if (kind !== "string" && kind !== "json") {
      throw new InvalidOptionError(
        "encryptFields",
        `names "${name}", a${kind === "integer" ? "n" : ""} ${kind} field: only string and json fields can be encrypted (the store counts and compares the others)`,
      );
    }
  }
}
