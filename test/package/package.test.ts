/**
 * The published package, checked on the tarball `npm pack` makes (prepack builds dist/lib): what
 * publint and Are the Types Wrong say about it, which files it ships, that its source maps resolve
 * inside it, and that installing it pulls in nothing (no dependencies, only optional peers).
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { packRepository, ROOT, runCommand } from "./npm.js";

interface PackageJSON {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  exports: Record<string, string | Record<string, string>>;
}

const bin = (pkg: string, file: string) => join(ROOT, "node_modules", pkg, file);
const PUBLINT = bin("publint", "src/cli.js");
const ATTW = bin("@arethetypeswrong/cli", "dist/index.js");

describe("the packed package", () => {
  let dir: string;
  let tarball: string;
  /** Paths inside the package, without the tarball's `package/` prefix. */
  let files: Set<string>;
  /** Where the tarball is unpacked (its `package/` directory). */
  let unpacked: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "latchkey-package-"));
    tarball = await packRepository(dir);
    const listing = await runCommand("tar", ["-tzf", tarball], { cwd: dir });
    files = new Set(
      listing
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => line.replace(/^package\//, "")),
    );
    await mkdir(join(dir, "unpacked"));
    await runCommand("tar", ["-xzf", tarball, "-C", join(dir, "unpacked")], { cwd: dir });
    unpacked = join(dir, "unpacked", "package");
  });

  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test("publint reports no error and no warning", async () => {
    // --strict turns warnings into errors (a non-zero exit); suggestions are printed but pass.
    const output = await runCommand(process.execPath, [PUBLINT, "run", tarball, "--strict"], { cwd: dir });
    assert.doesNotMatch(output, /^(Errors|Warnings):/m, output);
  });

  test("Are the Types Wrong reports no problem", async () => {
    // The package is ESM only (`"type": "module"`, no `require` condition), so the esm-only profile:
    // it leaves out TypeScript's node10 resolution (no `exports` support at all) and node16 from CJS,
    // where an ESM-only package is "dynamic import only" by design. (Node itself can require() it
    // since 20.19 and 22.12: install.test.ts checks that.) --no-definitely-typed: the package ships its
    // own types, so there is no @types package to look up on the registry.
    const args = [
      ATTW,
      tarball,
      "--profile",
      "esm-only",
      "--no-definitely-typed",
      "--no-color",
      "--no-emoji",
    ];
    await runCommand(process.execPath, args, { cwd: dir });
  });

  test("ships the built library, its sources and declarations, LICENSE and README, and nothing else", () => {
    for (const required of ["package.json", "README.md", "LICENSE", "dist/lib/index.js", "src/index.ts"]) {
      assert.ok(files.has(required), `the tarball has ${required}`);
    }
    const built = [...files].filter((path) => path.startsWith("dist/lib/") && path.endsWith(".js"));
    assert.ok(built.length > 0, "the tarball has dist/lib/**/*.js");
    for (const js of built) {
      assert.ok(files.has(js.replace(/\.js$/, ".d.ts")), `${js} has its declaration file`);
    }
    for (const path of files) {
      assert.doesNotMatch(path, /\.test(-[^/]*)?\.ts$/, `no test in the tarball: ${path}`);
      assert.doesNotMatch(path, /^(app|bench|test|examples)\//, `no ${path.split("/")[0]}/ in the tarball`);
      assert.ok(
        !path.startsWith("dist/") || path.startsWith("dist/lib/"),
        `only dist/lib of dist/ (not the app's or an old build's output): ${path}`,
      );
    }
  });

  test("every export's targets are in the tarball", async () => {
    const pkg = JSON.parse(await readFile(join(unpacked, "package.json"), "utf8")) as PackageJSON;
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      for (const path of typeof target === "string" ? [target] : Object.values(target)) {
        assert.ok(files.has(posix.normalize(path)), `exports["${subpath}"] names ${path}, which is shipped`);
      }
    }
  });

  test("the subpaths: the engine, the HTTP layer, the stores, one per adapter (web included), metrics", async () => {
    const pkg = JSON.parse(await readFile(join(unpacked, "package.json"), "utf8")) as PackageJSON;
    assert.deepEqual(Object.keys(pkg.exports), [
      ".",
      "./http",
      "./memory",
      "./redis",
      "./express",
      "./fastify",
      "./hono",
      "./metrics",
      "./web",
      "./package.json",
    ]);
    // The Web-standard adapter needs no framework: it loads from the tarball with nothing installed.
    const web = (await import(
      pathToFileURL(join(unpacked, "dist/lib/adapters/web/index.js")).href
    )) as object;
    assert.deepEqual(Object.keys(web).sort(), [
      "CrossOriginRequestError",
      "LatchkeyHTTPError",
      "createWebSessions",
    ]);
  });

  test("every source map and every sourceMappingURL resolves to a file in the tarball", async () => {
    const maps = [...files].filter((path) => path.endsWith(".map"));
    assert.ok(maps.length > 0, "the tarball has source maps");
    for (const map of maps) {
      const { sources, sourceRoot = "" } = JSON.parse(await readFile(join(unpacked, map), "utf8")) as {
        sources: string[];
        sourceRoot?: string;
      };
      assert.ok(sources.length > 0, `${map} names its sources`);
      for (const source of sources) {
        const resolved = posix.normalize(posix.join(posix.dirname(map), sourceRoot, source));
        assert.ok(files.has(resolved), `${map}: source ${source} (${resolved}) is in the tarball`);
      }
    }
    for (const path of files) {
      if (!/\.(js|d\.ts)$/.test(path)) continue;
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(await readFile(join(unpacked, path), "utf8"))?.[1];
      if (url === undefined) continue;
      const resolved = posix.normalize(posix.join(posix.dirname(path), url));
      assert.ok(files.has(resolved), `${path} points at ${url}, which is in the tarball`);
    }
  });

  test("bin: the latchkey command is a shipped file that runs with node", async () => {
    const pkg = JSON.parse(await readFile(join(unpacked, "package.json"), "utf8")) as PackageJSON & {
      bin?: Record<string, string>;
    };
    const command = pkg.bin?.latchkey;
    assert.equal(command, "dist/lib/cli/latchkey.js");
    assert.ok(files.has(command), `${command} is shipped`);
    const text = await readFile(join(unpacked, command), "utf8");
    assert.ok(text.startsWith("#!/usr/bin/env node\n"), "it starts with a shebang");
  });

  test("the root export is the public API named one by one: no internals", async () => {
    const root = (await import(pathToFileURL(join(unpacked, "dist/lib/index.js")).href)) as object;
    assert.deepEqual(Object.keys(root).sort(), [...ROOT_VALUES].sort());
    const types = exportedTypes(join(unpacked, "dist/lib/index.d.ts"));
    for (const internal of ["encodeFields", "decodeFields", "validateSchema", "assertFieldName"]) {
      assert.ok(!types.names.has(internal), `${internal} is not exported`);
    }
    for (const name of ["SessionStore", "StoredSession", "RecordStore", "SessionManager", "Session"]) {
      assert.ok(types.names.has(name), `${name} is exported`);
    }
  });

  test("SessionStore, as shipped, has at most 12 required members (an object of methods counts with its methods)", () => {
    const { required } = exportedTypes(join(unpacked, "dist/lib/index.d.ts"));
    assert.ok(required.length <= 12, `${required.length} required: ${required.join(", ")}`);
    assert.deepEqual(required, [
      "kind",
      "create",
      "load",
      "update",
      "rotate",
      "destroy",
      "take",
      "listForUser",
      "destroyById",
      "destroyForUser",
      "ping",
      "close",
    ]);
  });

  test("has no dependencies, and every peer dependency is optional", async () => {
    const pkg = JSON.parse(await readFile(join(unpacked, "package.json"), "utf8")) as PackageJSON;
    assert.deepEqual(Object.keys(pkg.dependencies ?? {}), [], "no dependencies");
    const peers = Object.keys(pkg.peerDependencies ?? {});
    assert.ok(peers.length > 0, "the frameworks and Redis clients are peers");
    for (const peer of peers) {
      assert.equal(pkg.peerDependenciesMeta?.[peer]?.optional, true, `peer ${peer} is optional`);
    }
  });
});

/** The values the root export holds: what an application and a backend author need. */
const ROOT_VALUES = [
  "CHANNELS",
  "ERROR_CODES",
  "InvalidArgumentError",
  "InvalidOptionError",
  "LatchkeyError",
  "SessionRevokedError",
  "StoreFullError",
  "StoreUnavailableError",
  "UnsupportedOperationError",
  "isStoreUnavailable",
  "createSessionManager",
  "idleDeadlineOf",
  "isWellFormedToken",
  "PUBLIC_ID_LENGTH",
  "TOKEN_LENGTH",
  "userTagOf",
];

/**
 * The names a declaration file exports, and the required members of its `SessionStore` as a backend
 * author must write them: each required property or method counts one, and a required property whose
 * type is an object of methods counts its methods instead.
 */
function exportedTypes(declarationFile: string): { names: Set<string>; required: string[] } {
  const program = ts.createProgram([declarationFile], { strict: true, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(declarationFile);
  assert.ok(source, `${declarationFile} was read`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  assert.ok(moduleSymbol, "the declaration file is a module");
  const exports = checker.getExportsOfModule(moduleSymbol);
  const names = new Set(exports.map((symbol) => symbol.name));
  const store = exports.find((symbol) => symbol.name === "SessionStore");
  assert.ok(store, "SessionStore is exported");
  const storeType = checker.getDeclaredTypeOfSymbol(checker.getAliasedSymbol(store));
  const required: string[] = [];
  for (const member of checker.getPropertiesOfType(storeType)) {
    if (member.flags & ts.SymbolFlags.Optional) continue;
    const memberType = checker.getNonNullableType(checker.getTypeOfSymbol(member));
    const methods = checker
      .getPropertiesOfType(memberType)
      .filter((inner) => checker.getTypeOfSymbol(inner).getCallSignatures().length > 0);
    const isObjectOfMethods =
      memberType.getCallSignatures().length === 0 &&
      !(memberType.flags & ts.TypeFlags.StringLike) &&
      methods.length > 0;
    if (isObjectOfMethods) required.push(...methods.map((method) => `${member.name}.${method.name}`));
    else required.push(member.name);
  }
  return { names, required };
}
