import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";

/**
 * Password hashing with scrypt from node:crypto. A hash is stored as
 * `scrypt$<N>$<r>$<p>$<salt base64>$<key base64>`, so the cost can be raised later without breaking
 * existing accounts. Passwords are never logged or stored in clear.
 */

export const PASSWORD_MIN_LENGTH = 8;
/** Upper bound so a huge password cannot make a request expensive (the form body is capped too). */
export const PASSWORD_MAX_LENGTH = 256;

/** N = 2^15, r = 8, p = 1: 32 MiB and about 0.1 s per hash on a current CPU. */
const DEFAULT_COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** True when `password` matches `stored`; false for a wrong password or an unreadable hash. */
  verify(password: string, stored: string): Promise<boolean>;
  /**
   * Spends the same time as a real verification and returns false: used for unknown usernames so the
   * response time does not tell which accounts exist.
   */
  verifyNothing(password: string): Promise<false>;
}

export function createPasswordHasher(cost: ScryptCost = DEFAULT_COST): PasswordHasher {
  let decoy: Promise<string> | undefined;

  const hash = async (password: string): Promise<string> => {
    const salt = randomBytes(SALT_BYTES);
    const key = await derive(password, salt, cost);
    return ["scrypt", cost.N, cost.r, cost.p, salt.toString("base64"), key.toString("base64")].join("$");
  };

  const verify = async (password: string, stored: string): Promise<boolean> => {
    const parsed = parse(stored);
    if (parsed === null) return false;
    const key = await derive(password, parsed.salt, parsed.cost);
    return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
  };

  return {
    hash,
    verify,
    async verifyNothing(password) {
      decoy ??= hash(randomBytes(16).toString("hex"));
      await verify(password, await decoy);
      return false;
    },
  };
}

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const options: ScryptOptions = { ...cost, maxmem: 256 * cost.N * cost.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, KEY_BYTES, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** Reads a stored hash; null when malformed or when its cost is outside sane bounds. */
function parse(stored: string): { cost: ScryptCost; salt: Buffer; key: Buffer } | null {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return null;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const powerOfTwo = Number.isSafeInteger(N) && N >= 2 && N <= 2 ** 20 && (N & (N - 1)) === 0;
  if (!powerOfTwo || !Number.isInteger(r) || !Number.isInteger(p)) return null;
  if (r < 1 || r > 32 || p < 1 || p > 16) return null;
  const salt = Buffer.from(parts[4] ?? "", "base64");
  const key = Buffer.from(parts[5] ?? "", "base64");
  if (salt.length < 8 || key.length !== KEY_BYTES) return null;
  return { cost: { N, r, p }, salt, key };
}
