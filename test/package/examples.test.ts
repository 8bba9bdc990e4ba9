/**
 * The examples as they are in the repository, run with `node examples/<framework>/server.js` on the
 * built library (dist/lib, which `npm test` builds first) and the repository's node_modules, once on
 * the memory store and once on a redis-server of their own.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type RedisServerHandle, startRedisServer } from "../harness/redis-servers.js";
import { exerciseExample } from "./example-checks.js";
import { withExample } from "./example-process.js";
import { ROOT } from "./npm.js";
import { expectOneMoreSession } from "./redis-sessions.js";

const FRAMEWORKS = ["express", "hono", "fastify"] as const;
/** Resolves `latchkey` from the examples as self-reference does from the repository: see the file. */
const SELF_REFERENCE = fileURLToPath(new URL("./self-reference.js", import.meta.url));

describe("the examples in the repository", () => {
  let redis: RedisServerHandle | undefined;

  before(async () => {
    for (const framework of FRAMEWORKS) {
      const built = join(ROOT, "dist/lib/adapters", framework, "index.js");
      assert.ok(existsSync(built), `${built} is missing: run \`npm run build:lib\` first`);
    }
    redis = await startRedisServer();
  });

  after(() => redis?.stop());

  for (const framework of FRAMEWORKS) {
    for (const storeKind of ["memory", "redis"] as const) {
      test(`${framework}, sessions in ${storeKind}`, async () => {
        const redisURL = redis?.url ?? "";
        const whileLoggedIn = storeKind === "redis" ? await expectOneMoreSession(redisURL) : undefined;
        await withExample(
          {
            entry: join(ROOT, "examples", framework, "server.js"),
            cwd: ROOT,
            env: storeKind === "redis" ? { REDIS_URL: redisURL } : {},
            nodeArgs: ["--import", SELF_REFERENCE],
          },
          (url) => exerciseExample(url, whileLoggedIn ? { whileLoggedIn } : {}),
        );
      });
    }
  }
});
