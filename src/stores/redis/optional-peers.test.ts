import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type RedisServerHandle, startRedisServer } from "../../../test/harness/redis-servers.js";
import { InvalidOptionError } from "../../core/errors.js";
import { requireOptionalPeer } from "./optional-peer.js";

const HIDE_PACKAGES = fileURLToPath(new URL("../../../test/harness/hide-packages.ts", import.meta.url));
const INDEX = new URL("./index.ts", import.meta.url).href;

/**
 * What a project with only `redis` installed sees: the child imports `latchkey/redis` (its sources)
 * with ioredis hidden, and reports as JSON.
 */
const CHILD = `
import { createRequire } from "node:module";
const report = {};
const { createRedisStore } = await import(${JSON.stringify(INDEX)});
report.loaded = true;
report.ioredisImportable = await import("ioredis").then(() => true, () => false);
try {
  createRequire(process.cwd() + "/")("ioredis");
  report.ioredisRequirable = true;
} catch { report.ioredisRequirable = false; }
report.refusals = [];
for (const options of [
  { url: "redis://127.0.0.1:1" },
  { clusterNodes: ["redis://127.0.0.1:1"] },
  { sentinels: [{ host: "127.0.0.1", port: 1 }], sentinelName: "m" },
]) {
  try { createRedisStore(options); report.refusals.push(null); }
  catch (error) { report.refusals.push({ name: error.name, option: error.option, message: error.message }); }
}
const { createClient } = await import("redis");
const client = await createClient({ url: process.env.REDIS_URL }).connect();
const store = createRedisStore({ client });
await store.records.insert("peer", { works: "yes" });
report.record = await store.records.get("peer");
await store.close();
client.destroy();
console.log(JSON.stringify(report));
`;

describe("optional peer dependencies", () => {
  let server: RedisServerHandle;
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await server.stop();
  });

  it("latchkey/redis loads and works on node-redis where ioredis is not installed", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "--import", HIDE_PACKAGES, "--input-type=module", "-e", CHILD],
      {
        env: { ...process.env, LATCHKEY_HIDE_PACKAGES: "ioredis", REDIS_URL: server.url },
        timeout: 30_000,
      },
    );
    const report = JSON.parse(stdout.trim().split("\n").pop() as string);
    assert.equal(report.loaded, true);
    assert.equal(report.ioredisImportable, false, "the control: ioredis really is hidden");
    assert.equal(report.ioredisRequirable, false);
    assert.deepEqual(
      report.refusals.map((r: { option: string } | null) => r?.option),
      ["url", "clusterNodes", "sentinels"],
    );
    for (const refusal of report.refusals) {
      assert.equal(refusal.name, "InvalidOptionError");
      assert.match(
        refusal.message,
        /needs the ioredis package \(npm install ioredis\), or pass a connected node-redis client as client/,
      );
    }
    assert.deepEqual(report.record, { works: "yes" });
  });

  it("a missing peer is an InvalidOptionError naming the option; other load failures pass through", () => {
    assert.throws(
      () => requireOptionalPeer("latchkey-no-such-package", "url", "or something else"),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        error.option === "url" &&
        error.message ===
          'latchkey: option "url" needs the latchkey-no-such-package package (npm install latchkey-no-such-package), or something else',
    );
    assert.equal(typeof requireOptionalPeer<{ Redis: unknown }>("ioredis", "url", "").Redis, "function");
  });
});
