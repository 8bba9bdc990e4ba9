/**
 * What a user gets: the packed tarball installed into an empty project next to one framework and one
 * Redis client only, exactly as each example's package.json asks, pulls in nothing else; the example
 * copied into that project runs on a redis-server; and (where Node can) `require("latchkey")` works
 * from CommonJS.
 *
 * The installs use npm's cache (`--prefer-offline`, filled by `npm ci`) and the versions of the
 * repository's package-lock.json; they run in parallel while the first project is checked.
 */
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RedisServerHandle, startRedisServer } from "../harness/redis-servers.js";
import { exerciseExample } from "./example-checks.js";
import { withExample } from "./example-process.js";
import { lockedVersion, npm, packRepository, ROOT, runCommand } from "./npm.js";
import { expectOneMoreSession } from "./redis-sessions.js";

/** Each example's project: the packages it installs beside latchkey. */
const PROJECTS = {
  express: ["express", "ioredis"],
  hono: ["hono", "@hono/node-server", "redis"],
  fastify: ["fastify", "ioredis"],
} as const;
type Framework = keyof typeof PROJECTS;
const FRAMEWORKS = Object.keys(PROJECTS) as Framework[];

/** Node 20.19+, 22.12+ and 24 load ES modules with require() (process.features.require_module). */
const canRequireESM = (process.features as { require_module?: boolean }).require_module === true;

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

describe("the packed package installed into an empty project", () => {
  let dir: string;
  let redis: RedisServerHandle;
  const projects = new Map<Framework, Promise<string>>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "latchkey-install-"));
    const lock = JSON.parse(await readFile(join(ROOT, "package-lock.json"), "utf8"));
    const [tarball, server] = await Promise.all([packRepository(dir), startRedisServer()]);
    redis = server;
    for (const framework of FRAMEWORKS) {
      const project = installProject(join(dir, framework), framework, tarball, lock);
      // Awaited by the framework's test; until then a failure must not be an unhandled rejection.
      project.catch(() => {});
      projects.set(framework, project);
    }
  });

  after(async () => {
    // Let every install finish before its directory goes.
    await Promise.allSettled(projects.values());
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  for (const framework of FRAMEWORKS) {
    test(`${framework}: only ${PROJECTS[framework].join(", ")} and their dependencies beside latchkey; the example runs`, async () => {
      const project = await (projects.get(framework) as Promise<string>);
      await assertOnlyThese(project, PROJECTS[framework]);
      await withExample(
        { entry: join(project, "server.js"), cwd: project, env: { REDIS_URL: redis.url } },
        async (url) => exerciseExample(url, { whileLoggedIn: await expectOneMoreSession(redis.url) }),
      );
    });

    test(`${framework}: latchkey/metrics without @opentelemetry/api; the latchkey command works`, async () => {
      const project = await (projects.get(framework) as Promise<string>);
      await writeFile(join(project, "metrics.mjs"), METRICS_CHECK);
      const output = await runCommand(process.execPath, ["metrics.mjs"], { cwd: project, timeoutMs: 30_000 });
      assert.deepEqual(JSON.parse(output), {
        withoutMeter: "INVALID_OPTION",
        mentionsPackage: true,
        recorded: [["latchkey.session.created", 1]],
      });
      // Installed as node_modules/.bin/latchkey, through whichever Redis client the project has.
      const command = join(project, "node_modules", ".bin", "latchkey");
      const health = await runCommand(command, ["health", "--json", "--redis-url", redis.url], {
        cwd: project,
        timeoutMs: 30_000,
      });
      assert.equal((JSON.parse(health) as { status: string }).status, "ok");
      await assert.rejects(runCommand(command, ["sessions"], { cwd: project, timeoutMs: 30_000 }));
    });

    test(`${framework}: require("latchkey") from CommonJS`, {
      skip: canRequireESM ? false : `missing dependency: require(esm), which Node ${process.version} lacks`,
    }, async () => {
      const project = await (projects.get(framework) as Promise<string>);
      await writeFile(join(project, "require.cjs"), requireCheck(framework));
      const output = await runCommand(process.execPath, ["require.cjs"], { cwd: project, timeoutMs: 30_000 });
      assert.deepEqual(JSON.parse(output), {
        createSessionManager: "function",
        createMemoryStore: "function",
        createRedisStore: "function",
        latchkey: "function",
        crossOriginProtection: "function",
        visits: 1,
      });
    });
  }
});

/**
 * Makes the example's project in `dir`: its package.json with latchkey from the tarball and every other
 * dependency pinned to the repository's locked version, its server.js, then `npm install`.
 */
async function installProject(
  dir: string,
  framework: Framework,
  tarball: string,
  lock: { packages: Record<string, { version?: string }> },
): Promise<string> {
  const example = join(ROOT, "examples", framework);
  const manifest = JSON.parse(await readFile(join(example, "package.json"), "utf8")) as Manifest;
  assert.deepEqual(
    Object.keys(manifest.dependencies ?? {}).sort(),
    ["latchkey", ...PROJECTS[framework]].sort(),
    `examples/${framework}/package.json depends on latchkey and ${PROJECTS[framework].join(", ")}`,
  );
  const dependencies: Record<string, string> = { latchkey: `file:${tarball}` };
  for (const name of PROJECTS[framework]) dependencies[name] = lockedVersion(lock, name);
  await mkdir(dir);
  await writeFile(join(dir, "package.json"), `${JSON.stringify({ ...manifest, dependencies }, null, 2)}\n`);
  await copyFile(join(example, "server.js"), join(dir, "server.js"));
  await npm(["install", "--prefer-offline", "--no-audit", "--no-fund"], dir);
  return dir;
}

/**
 * Asserts that node_modules holds latchkey (without dependencies), `roots`, and packages that `roots`
 * need (dependencies, optional dependencies and required peers, transitively), and nothing else: none of
 * latchkey's optional peers unless the project asked for it.
 */
async function assertOnlyThese(project: string, roots: readonly string[]): Promise<void> {
  const installed = await installedPackages(join(project, "node_modules"));
  const latchkey = installed.get("latchkey")?.[0];
  assert.ok(latchkey, "latchkey is installed");
  assert.deepEqual(Object.keys(latchkey.dependencies ?? {}), [], "latchkey brings no dependencies");

  const needed = new Set<string>();
  const queue = [...roots];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    if (needed.has(name)) continue;
    needed.add(name);
    for (const manifest of installed.get(name) ?? []) queue.push(...requiredBy(manifest));
  }
  for (const root of roots) assert.ok(installed.has(root), `${root} is installed`);
  for (const peer of Object.keys(latchkey.peerDependencies ?? {})) {
    if (!roots.includes(peer)) assert.ok(!installed.has(peer), `latchkey's optional peer ${peer} stays out`);
  }
  const extra = [...installed.keys()].filter((name) => name !== "latchkey" && !needed.has(name));
  assert.deepEqual(extra, [], `nothing beyond ${roots.join(", ")} and their dependency trees`);
}

function requiredBy(manifest: Manifest): string[] {
  const peers = Object.keys(manifest.peerDependencies ?? {}).filter(
    (peer) => manifest.peerDependenciesMeta?.[peer]?.optional !== true,
  );
  return [
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.optionalDependencies ?? {}),
    ...peers,
  ];
}

/** Every package under `nodeModules`, nested node_modules included, by name. */
async function installedPackages(nodeModules: string): Promise<Map<string, Manifest[]>> {
  const found = new Map<string, Manifest[]>();
  const visit = async (modules: string): Promise<void> => {
    const entries = await readdir(modules, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (entry.name.startsWith(".") || !(entry.isDirectory() || entry.isSymbolicLink())) continue;
      const dirs = entry.name.startsWith("@")
        ? (await readdir(join(modules, entry.name))).map((name) => join(modules, entry.name, name))
        : [join(modules, entry.name)];
      for (const packageDir of dirs) {
        const manifest = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8")) as Manifest;
        found.set(manifest.name, [...(found.get(manifest.name) ?? []), manifest]);
        await visit(join(packageDir, "node_modules"));
      }
    }
  };
  await visit(nodeModules);
  return found;
}

/**
 * An ES module that uses latchkey/metrics in a project without @opentelemetry/api: it loads, asks for a
 * meter (naming the package to install) when given none, and records on a meter it is given.
 */
const METRICS_CHECK = `import { createSessionManager } from "latchkey";
import { createMemoryStore } from "latchkey/memory";
import { instrumentSessions } from "latchkey/metrics";

let withoutMeter;
let mentionsPackage;
try {
  instrumentSessions();
} catch (error) {
  withoutMeter = error.code;
  mentionsPackage = error.message.includes("@opentelemetry/api");
}
const recorded = [];
const instrument = (name) => ({
  add: (value) => recorded.push([name, value]),
  record: (value) => recorded.push([name, value]),
});
const meter = { createCounter: instrument, createHistogram: instrument };
const instrumentation = instrumentSessions({ meter });
const store = createMemoryStore();
await createSessionManager({ store }).create("user-1");
instrumentation.stop();
await store.close();
console.log(JSON.stringify({
  withoutMeter,
  mentionsPackage,
  recorded: recorded.filter(([name]) => name !== "latchkey.store.duration"),
}));
`;

/** A CommonJS file that requires every entry point the project uses and runs one session through. */
function requireCheck(framework: Framework): string {
  return `"use strict";
const { createSessionManager } = require("latchkey");
const { createMemoryStore } = require("latchkey/memory");
const { createRedisStore } = require("latchkey/redis");
const { latchkey, crossOriginProtection } = require("latchkey/${framework}");

(async () => {
  const store = createMemoryStore();
  const sessions = createSessionManager({ store, fields: { visits: "integer" } });
  const { token } = await sessions.create("user-1");
  const session = await sessions.load(token, { increment: { visits: 1 } });
  await store.close();
  console.log(JSON.stringify({
    createSessionManager: typeof createSessionManager,
    createMemoryStore: typeof createMemoryStore,
    createRedisStore: typeof createRedisStore,
    latchkey: typeof latchkey,
    crossOriginProtection: typeof crossOriginProtection,
    visits: session.data.visits,
  }));
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;
}
