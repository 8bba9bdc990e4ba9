import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Fastify from "fastify";
import { latchkey as expressLatchkey } from "../../src/adapters/express/index.js";
import { latchkey as fastifyLatchkey } from "../../src/adapters/fastify/index.js";
import { latchkey as honoLatchkey } from "../../src/adapters/hono/index.js";
import { createWebSessions } from "../../src/adapters/web/index.js";
import { createSessionManager } from "../../src/index.js";
import { createMemoryStore } from "../../src/stores/memory/index.js";

const sessions = createSessionManager({ store: createMemoryStore() });

/** Options every adapter checks the same way, at construction (Fastify: at registration). */
const BAD: [Record<string, unknown>, RegExp][] = [
  [{}, /option "sessions"/],
  [{ sessions: {} }, /option "sessions"/],
  [{ sessions, cookieName: "bad name" }, /option "cookieName"/],
  [{ sessions, cookieName: "__Host-lk" }, /option "cookieName".*prefix/],
  [{ sessions, secure: "yes" }, /option "secure"/],
  [{ sessions, sameSite: "none" }, /option "sameSite"/],
  [{ sessions, property: "not valid" }, /option "property"/],
];

describe("adapter options", () => {
  test("express, hono and web refuse bad options at construction, naming the option", () => {
    for (const [options, message] of [
      ...BAD,
      [{ sessions, trustProxy: "yes" }, /option "trustProxy"/] as const,
    ]) {
      assert.throws(() => expressLatchkey(options as never), message, `express ${JSON.stringify(options)}`);
      assert.throws(() => honoLatchkey(options as never), message, `hono ${JSON.stringify(options)}`);
      assert.throws(() => createWebSessions(options as never), message, `web ${JSON.stringify(options)}`);
    }
    assert.throws(
      () => createWebSessions({ sessions: sessions as never, trustedOrigins: ["https://a.example/"] }),
      /option "trustedOrigins\[0\]"/,
    );
  });

  test("fastify refuses them at registration", async () => {
    for (const [options, message] of BAD) {
      const app = Fastify();
      await assert.rejects(async () => {
        await app.register(fastifyLatchkey, options as never);
        await app.ready();
      }, message);
      await app.close();
    }
  });

  test("property renames where the session is found, e.g. to run beside @fastify/session", async () => {
    const app = Fastify();
    await app.register(fastifyLatchkey, { sessions: sessions as never, property: "latchkey" });
    app.get("/", async (request) => {
      const bag = request as unknown as Record<string, { load(): Promise<unknown> } | undefined>;
      return { renamed: typeof bag.latchkey?.load, session: typeof bag.session };
    });
    const response = await app.inject("/");
    assert.deepEqual(response.json(), { renamed: "function", session: "undefined" });
    await app.close();
  });
});
