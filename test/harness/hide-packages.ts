import { createRequire, register } from "node:module";

/**
 * A preload that makes packages look uninstalled, for tests of optional peer dependencies in a child
 * process: `node --import tsx --import ./test/harness/hide-packages.ts ...` with
 * `LATCHKEY_HIDE_PACKAGES=ioredis,other`. Both an ESM `import` and a CommonJS `require` (including one
 * from `createRequire`) of a hidden package, or of a subpath of it, then fail as for a package that is
 * not installed (ERR_MODULE_NOT_FOUND, MODULE_NOT_FOUND). Nothing is hidden without the variable.
 */

const hidden = (process.env.LATCHKEY_HIDE_PACKAGES ?? "").split(",").filter((name) => name.length > 0);

// ESM: a resolve hook, run in the loader thread, so it is passed as source text.
const hooks = `
let hidden = [];
export function initialize(data) { hidden = data; }
export async function resolve(specifier, context, next) {
  if (hidden.some((name) => specifier === name || specifier.startsWith(name + "/"))) {
    const error = new Error("Cannot find package '" + specifier + "' (hidden by the test harness)");
    error.code = "ERR_MODULE_NOT_FOUND";
    throw error;
  }
  return next(specifier, context);
}
`;
if (hidden.length > 0) {
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: hidden });

  // CommonJS: Node 20's module hooks do not see require(), so wrap the resolver itself.
  const Module = createRequire(import.meta.url)("node:module") as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
  };
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    if (hidden.some((name) => request === name || request.startsWith(`${name}/`))) {
      const error = new Error(`Cannot find module '${request}' (hidden by the test harness)`);
      (error as NodeJS.ErrnoException).code = "MODULE_NOT_FOUND";
      throw error;
    }
    return resolveFilename.call(this, request, ...rest);
  };
}
