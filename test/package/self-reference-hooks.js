/**
 * Module hooks for running the examples in this repository on the built library (`node --import
 * ./test/package/self-reference.js examples/express/server.js`).
 *
 * Node resolves a package's own name by self-reference only from files whose nearest package.json is
 * that package's, and every example has its own package.json (so that it can be copied out as a
 * project). This hook resolves `latchkey` and `latchkey/*` as self-reference would from the repository
 * root: through package.json `exports` to dist/lib, as an installed package resolves. Everything else
 * resolves as usual (the frameworks from the repository's node_modules).
 *
 * Plain JavaScript: it runs in the example's process, which has no TypeScript loader.
 */
const ROOT_PACKAGE_JSON = new URL("../../package.json", import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === "latchkey" || specifier.startsWith("latchkey/")) {
    return nextResolve(specifier, { ...context, parentURL: ROOT_PACKAGE_JSON });
  }
  return nextResolve(specifier, context);
}
