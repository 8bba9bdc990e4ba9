import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { dumpRedis } from "../../../test/harness/redis-dump.js";
import { clientCommandsDuring, monitorLinesDuring } from "../../../test/harness/redis-monitor.js";
import { type RedisServerHandle, startRedisServer } from "../../../test/harness/redis-servers.js";
import { respCommand } from "../../../test/harness/resp-client.js";
import { createSessionManager } from "../../core/session-manager.js";
import { generateToken, storageIdOf } from "../../core/token.js";
import { createRedisStore, type RedisStore } from "./index.js";
import { keyLayout } from "./keys.js";

const SCHEMA = { name: "string", note: "string", prefs: "json", visits: "integer" } as const;

describe("encrypted fields on a real redis-server", () => {
  let server: RedisServerHandle;
  let store: RedisStore;

  before(async () => {
    server = await startRedisServer();
    store = createRedisStore({ url: server.url });
    await store.ping();
  });
  after(async () => {
    await store.close();
    await server.stop();
  });

  it("no command Redis sees (MONITOR) and no value it holds (HGETALL) shows the plaintext", async () => {
    const sessions = createSessionManager({ store, fields: SCHEMA, encryptFields: ["note", "prefs"] });
    const note = `note-${generateToken().slice(0, 16)}`;
    const secret = `prefs-${generateToken().slice(0, 16)}`;
    const later = `later-${generateToken().slice(0, 16)}`;
    let token = "";
    const lines = await monitorLinesDuring(server.url, async () => {
      const anonymous = await sessions.createAnonymous({ data: { note, prefs: { secret } } });
      const promoted = await sessions.promote(anonymous.token, "monitored", { keep: ["note", "prefs"] });
      assert.equal(await sessions.set(promoted.token, { note: later, name: "shown" }), true);
      const rotated = await sessions.rotate(promoted.token);
      assert.ok(rotated);
      token = rotated.token;
      assert.deepEqual((await sessions.load(token))?.data, { note: later, prefs: { secret }, name: "shown" });
    });
    assert.ok(
      lines.some((line) => line.includes("shown")),
      "MONITOR shows the arguments (the control)",
    );
    for (const plaintext of [note, secret, later]) {
      assert.equal(
        lines.find((line) => line.includes(plaintext)),
        undefined,
        "MONITOR showed a plaintext",
      );
    }
    const key = keyLayout("lk:").session(storageIdOf(token));
    const hash = (await respCommand({ host: "127.0.0.1", port: server.port }, "HGETALL", key)) as string[];
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < hash.length; i += 2) fields[hash[i] as string] = hash[i + 1] as string;
    assert.match(fields.note ?? "", /^v1\./);
    assert.match(fields.prefs ?? "", /^v1\./);
    assert.equal(fields.name, "shown");
    const dump = (await dumpRedis([server.url])).join("\n");
    for (const plaintext of [note, secret, later]) assert.ok(!dump.includes(plaintext));
  });

  it("a load with encrypted fields is still one EVALSHA", async () => {
    const sessions = createSessionManager({ store, fields: SCHEMA, encryptFields: ["note"] });
    const { token } = await sessions.create("one-command", { data: { note: "n" } });
    await sessions.load(token);
    const sent = await clientCommandsDuring(server.url, async () =>
      assert.equal((await sessions.load(token, { increment: { visits: 1 } }))?.data.note, "n"),
    );
    assert.deepEqual(sent, ["evalsha"]);
  });
});
