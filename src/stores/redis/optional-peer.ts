import { createRequire } from "node:module";
import { InvalidOptionError } from "../../core/errors.js";

const require = createRequire(import.meta.url);

/**
 * Loads an optional peer dependency (ioredis, redis) when an option needs it, or throws
 * InvalidOptionError naming that option. `latchkey/redis` never imports a client library at module
 * level, so that it loads in a project that has only one of them. Synchronous on purpose: the store
 * is created synchronously, and a top-level `await import()` would break `require(esm)`.
 */
export function requireOptionalPeer<T>(name: string, option: string, alternative: string): T {
  try {
    return require(name) as T;
  } catch (error) {
    // Only "not installed" means that; an installed package that fails to load says why itself.
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== "MODULE_NOT_FOUND" || !String((error as Error).message).includes(`'${name}'`)) {
      throw error;
    }
    throw new InvalidOptionError(option, `needs the ${name} package (npm install ${name}), ${alternative}`);
  }
}
