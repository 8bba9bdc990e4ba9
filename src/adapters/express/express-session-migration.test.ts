import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { before, describe, test } from "node:test";
import type * as Express from "express";
import express from "express";
import { createClient, createCluster } from "redis";
import type { AppUnderTest, SuiteResponse } from "../../../test/adapters/adapter-harness.js";
import { overHTTP } from "../../../test/adapters/node-http-client.js";
import { startRedisCluster } from "../../../test/harness/redis-servers.js";
import { suiteResources } from "../../../test/harness/suite-resources.js";
import { startTCPProxy } from "../../../test/harness/tcp-proxy.js";
import { createSessionManager, type SessionManager } from "../../core/session-manager.js";
import type { RequestSession } from "../../http/request-session.js";
import { createRedisStore } from "../../stores/redis/index.js";
import { type ExpressSessionMigrationOptions, type ExpressSessionStoreLike, latchkey } from "./index.js";

/**
 * The migration against sessions written by the real express-session + connect-redis (node-redis
 * client), as an app switching to latchkey has them. express-session and connect-redis are loaded
 * without their type declarations: these claim `Express.Request.session`, which latchkey's adapter
 * types in this program.
 */
const require = createRequire(import.meta.url);
const expressSession = require("express-session") as (
  options: Record<string, unknown>,
) => Express.RequestHandler;
const { RedisStore } = require("connect-redis") as {
  RedisStore: new (options: { client: unknown; prefix?: string }) => ExpressSessionStoreLike;
};

const FIELDS = { cart: "string", visits: "integer" } as const;
type Sessions = SessionManager<typeof FIELDS>;
const OLD_SECRET = "the old express-session secret";

interface Target {
  name: string;
  /** A node-redis client (or cluster client) for connect-redis, and a latchkey store, on one Redis. */
  open(
    resources: ReturnType<typeof suiteResources>,
  ): Promise<{ client: unknown; sessions: Sessions; raw: RawRedis }>;
}
/** Reads and writes of connect-redis keys, to check what the migration left. */
interface RawRedis {
  exists(key: string): Promise<number>;
}

const standalone: Target = {
  name: "standalone Redis",
  async open({ started, defer }) {
    const server = await started();
    const client = await createClient({ url: server.url }).connect();
    defer(async () => void (await client.close()));
    const store = createRedisStore({ url: server.url });
    defer(() => store.close());
    return { client, sessions: createSessionManager({ store, fields: FIELDS }), raw: client };
  },
};
const cluster: Target = {
  name: "a 3-master Redis Cluster",
  async open({ defer }) {
    const nodes = await startRedisCluster({ masters: 3 });
    defer(() => nodes.stop());
    const client = await createCluster({ rootNodes: [{ url: nodes.urls[0] as string }] }).connect();
    defer(async () => void (await client.close()));
    const store = createRedisStore({ clusterNodes: [nodes.urls[0] as string] });
    defer(() => store.close());
    return { client, sessions: createSessionManager({ store, fields: FIELDS }), raw: client };
  },
};

/** The app before the switch: express-session + connect-redis, `POST /login?user=X&cart=Y`. */
async function oldApp(client: unknown): Promise<AppUnderTest> {
  const app = express();
  app.use(
    expressSession({
      store: new RedisStore({ client }),
      secret: OLD_SECRET,
      resave: false,
      saveUninitialized: false,
    }),
  );
  app.post("/login", (req, res) => {
    const session = (req as unknown as { session: Record<string, unknown> }).session;
    session.user = String(req.query.user);
    if (req.query.cart !== undefined) session.cart = String(req.query.cart);
    res.json({ ok: true });
  });
  app.post("/visit", (req, res) => {
    const session = (req as unknown as { session: Record<string, unknown> }).session;
    session.visitor = true;
    res.json({ ok: true });
  });
  return overHTTP(createServer(app));
}

/** The app after the switch: latchkey with the migration step, `GET /whoami`. */
async function newApp(
  sessions: Sessions,
  migration: Partial<ExpressSessionMigrationOptions> & Pick<ExpressSessionMigrationOptions, "store">,
): Promise<AppUnderTest> {
  const app = express();
  app.use(
    latchkey({
      sessions: sessions as never,
      migrateExpressSession: {
        secret: ["a newer secret", OLD_SECRET],
        convert: (old) =>
          typeof old.user === "string"
            ? { userId: old.user, data: (typeof old.cart === "string" ? { cart: old.cart } : {}) as never }
            : null,
        ...migration,
      },
    }),
  );
  app.get("/whoami", (req, res, next) => {
    const session = req.session as unknown as RequestSession<typeof FIELDS>;
    session
      .load()
      .then((loaded) => res.json({ user: loaded?.userId ?? null, cart: loaded?.data.cart ?? null }), next);
  });
  return overHTTP(createServer(app));
}

const setCookies = (response: SuiteResponse): string[] => response.setCookies;
const cookieNamed = (response: SuiteResponse, name: string) =>
  setCookies(response).find((cookie) => cookie.startsWith(`${name}=`));
const cookieValue = (cookie: string | undefined) =>
  cookie?.slice(cookie.indexOf("=") + 1, cookie.indexOf(";"));
const json = (response: SuiteResponse) => JSON.parse(response.body) as Record<string, unknown>;
/** connect-redis's key for the sid inside a signed, URL-encoded express-session cookie value. */
const oldKeyOf = (cookieValue: string) => {
  const signed = decodeURIComponent(cookieValue).slice(2);
  return `sess:${signed.slice(0, signed.lastIndexOf("."))}`;
};

for (const target of [standalone, cluster]) {
  describe(`express-session migration on ${target.name}`, () => {
    const resources = suiteResources();
    let client: unknown;
    let sessions: Sessions;
    let raw: RawRedis;
    let before_: AppUnderTest;
    let after_: AppUnderTest;

    before(async () => {
      ({ client, sessions, raw } = await target.open(resources));
      before_ = await oldApp(client);
      after_ = await newApp(sessions, { store: new RedisStore({ client }) });
      resources.defer(() => before_.close());
      resources.defer(() => after_.close());
    });

    /** Logs in on the old app; the connect.sid cookie value (URL-encoded, signed). */
    const oldLogin = async (user: string, cart?: string): Promise<string> => {
      const query = cart === undefined ? `user=${user}` : `user=${user}&cart=${encodeURIComponent(cart)}`;
      const response = await before_.request({ method: "POST", path: `/login?${query}` });
      const value = cookieValue(cookieNamed(response, "connect.sid"));
      assert.ok(value?.startsWith("s%3A"), `express-session set a signed cookie: ${setCookies(response)}`);
      return value as string;
    };

    test("a user logged in with express-session is logged in on the first request: a fresh token, the fields kept, the old key deleted and its cookie cleared", async () => {
      const old = await oldLogin("ada", "3 apples");
      assert.equal(await raw.exists(oldKeyOf(old)), 1);

      const first = await after_.request({
        method: "GET",
        path: "/whoami",
        headers: { cookie: `connect.sid=${old}` },
      });
      assert.equal(first.status, 200);
      assert.deepEqual(json(first), { user: "ada", cart: "3 apples" });
      const token = cookieValue(cookieNamed(first, "lk"));
      assert.match(token ?? "", /^[A-Za-z0-9_-]{43}$/);
      assert.equal(
        cookieNamed(first, "connect.sid"),
        "connect.sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
      );
      assert.equal(await raw.exists(oldKeyOf(old)), 0, "the old session is gone from Redis");

      const next = await after_.request({
        method: "GET",
        path: "/whoami",
        headers: { cookie: `lk=${token}` },
      });
      assert.deepEqual(json(next), { user: "ada", cart: "3 apples" });
      assert.equal((await sessions.listForUser("ada")).length, 1);
    });

    test("concurrent requests with the same old cookie, to two app instances, end with one session and one token", async () => {
      const old = await oldLogin("grace");
      // A second instance: its own middleware, its own in-process state, as another process would have.
      const other = await newApp(sessions, { store: new RedisStore({ client }) });
      resources.defer(() => other.close());
      const responses = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          (i % 2 === 0 ? after_ : other).request({
            method: "GET",
            path: "/whoami",
            headers: { cookie: `connect.sid=${old}` },
          }),
        ),
      );
      for (const response of responses) assert.deepEqual(json(response), { user: "grace", cart: null });
      const tokens = new Set(responses.map((response) => cookieValue(cookieNamed(response, "lk"))));
      assert.equal(tokens.size, 1, `one token for all: ${[...tokens].join(", ")}`);
      const live = await sessions.listForUser("grace");
      assert.equal(live.length, 1, "one session, not one per request");
      assert.equal(live[0]?.id, sessions.publicIdOf([...tokens][0]));

      // Requests still in flight with the old cookie after the switch find the same session.
      const late = await other.request({
        method: "GET",
        path: "/whoami",
        headers: { cookie: `connect.sid=${old}` },
      });
      assert.deepEqual(json(late), { user: "grace", cart: null });
      assert.equal(cookieValue(cookieNamed(late, "lk")), [...tokens][0]);
    });

    test("forged, unsigned, tampered or unknown old cookies give no session and no error", async () => {
      const old = await oldLogin("eve");
      const sid = oldKeyOf(old).slice("sess:".length);
      const forged = [
        encodeURIComponent(`s:${sid}.${"A".repeat(43)}`),
        sid,
        `${old.slice(0, -3)}abc`,
        "s%3A",
        "%E0%A4%A",
        "x".repeat(600),
      ];
      for (const value of forged) {
        const response = await after_.request({
          method: "GET",
          path: "/whoami",
          headers: { cookie: `connect.sid=${value}` },
        });
        assert.equal(response.status, 200, value);
        assert.deepEqual(json(response), { user: null, cart: null }, value);
        assert.equal(setCookies(response).length, 0, `a cookie it cannot verify is left alone: ${value}`);
      }
      assert.equal(await raw.exists(oldKeyOf(old)), 1, "no forged cookie touched the real session");

      // Signed with the app's secret, but naming no session (expired): cleared, so it costs no more lookups.
      const stale = await oldLogin("ghost");
      await (new RedisStore({ client }) as unknown as { destroy(sid: string): Promise<unknown> }).destroy(
        oldKeyOf(stale).slice("sess:".length),
      );
      const response = await after_.request({
        method: "GET",
        path: "/whoami",
        headers: { cookie: `connect.sid=${stale}` },
      });
      assert.deepEqual(json(response), { user: null, cart: null });
      assert.equal(cookieNamed(response, "lk"), undefined);
      assert.match(cookieNamed(response, "connect.sid") ?? "", /^connect\.sid=; Max-Age=0/);
    });

    test("convert returning null drops the old session; a request that already has a latchkey cookie is not migrated", async () => {
      const visitor = await before_.request({ method: "POST", path: "/visit" });
      const old = cookieValue(cookieNamed(visitor, "connect.sid")) as string;
      const dropped = await after_.request({
        method: "GET",
        path: "/whoami",
        headers: { cookie: `connect.sid=${old}` },
      });
      assert.deepEqual(json(dropped), { user: null, cart: null });
      assert.equal(cookieNamed(dropped, "lk"), undefined, "no session for a visitor convert refused");
      assert.equal(await raw.exists(oldKeyOf(old)), 0);

      const kept = await oldLogin("alan");
      const { token } = await sessions.create("someone-else");
      const both = await after_.request({
        method: "GET",
        path: "/whoami",
        headers: { cookie: `lk=${token}; connect.sid=${kept}` },
      });
      assert.deepEqual(json(both), { user: "someone-else", cart: null });
      assert.equal(await raw.exists(oldKeyOf(kept)), 1, "the latchkey cookie wins; the old session is left");
    });
  });
}

describe("express-session migration with the old sessions on another Redis", () => {
  const resources = suiteResources();

  test("an old store that does not answer: 503 within the timeout, the old cookie and session kept; the next request migrates", async () => {
    const newRedis = await resources.started();
    const store = createRedisStore({ url: newRedis.url });
    resources.defer(() => store.close());
    const sessions = createSessionManager({ store, fields: FIELDS });
    const oldRedis = await resources.started();
    const proxy = await startTCPProxy(oldRedis.port);
    resources.defer(() => proxy.stop());
    const client = createClient({ url: proxy.url });
    client.on("error", () => {});
    await client.connect();
    resources.defer(async () => void (await client.close().catch(() => {})));
    const before_ = await oldApp(client);
    const after_ = await newApp(sessions, { store: new RedisStore({ client }), timeoutMs: 300 });
    resources.defer(() => before_.close());
    resources.defer(() => after_.close());
    const login = await before_.request({ method: "POST", path: "/login?user=ada&cart=pears" });
    const old = cookieValue(cookieNamed(login, "connect.sid")) as string;

    proxy.hold();
    const failed = await after_.request({
      method: "GET",
      path: "/whoami",
      headers: { cookie: `connect.sid=${old}` },
    });
    assert.equal(failed.status, 503);
    assert.doesNotMatch(
      failed.body,
      /\bat .*\.[jt]s:\d|Redis|proxy/,
      "no stack trace or internals to the client",
    );
    assert.equal(setCookies(failed).length, 0, "the old cookie is kept for the next try");
    assert.equal((await sessions.listForUser("ada")).length, 0, "no session made without the old one");

    proxy.cut();
    proxy.release();
    const migrated = await after_.request({
      method: "GET",
      path: "/whoami",
      headers: { cookie: `connect.sid=${old}` },
    });
    assert.deepEqual(json(migrated), { user: "ada", cart: "pears" }, "the old session was not lost");
    assert.equal((await sessions.listForUser("ada")).length, 1);
  });
});
