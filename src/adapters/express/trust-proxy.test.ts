/**
 * The Express adapter and Express's own `trust proxy`: honoured when the app set it and the adapter's
 * `trustProxy` is not given; the adapter's option, when given, wins; neither: no header is believed.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import express from "express";
import { createSessionManager } from "../../core/session-manager.js";
import { createMemoryStore } from "../../stores/memory/index.js";
import { latchkey, type TrustProxy } from "./index.js";

const sessions = createSessionManager({ store: createMemoryStore() });
const servers: ReturnType<typeof createServer>[] = [];

after(async () => {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await sessions.store.close();
});

/** An app that logs in on POST /login; resolves with its URL. */
async function start(trustProxySetting: unknown, trustProxy?: TrustProxy): Promise<string> {
  const app = express();
  if (trustProxySetting !== undefined) app.set("trust proxy", trustProxySetting);
  app.use(latchkey({ sessions, ...(trustProxy === undefined ? {} : { trustProxy }) }));
  app.post("/login", async (req, res) => {
    const session = await req.session.create("ada");
    res.json({ ip: session.ip });
  });
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function logIn(url: string): Promise<{ ip: string; cookie: string }> {
  const response = await fetch(`${url}/login`, {
    method: "POST",
    headers: { "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7" },
  });
  assert.equal(response.status, 200);
  const { ip } = (await response.json()) as { ip: string };
  return { ip, cookie: response.headers.getSetCookie()[0] ?? "" };
}

describe("express: trust proxy", () => {
  test("app.set('trust proxy', 'loopback'): req.protocol and req.ip decide", async () => {
    const { ip, cookie } = await logIn(await start("loopback"));
    assert.equal(ip, "203.0.113.7");
    assert.match(cookie, /^__Host-lk=[^;]+;.*; Secure;/);
  });

  test("a trust proxy that does not name the peer: the headers are ignored, as Express ignores them", async () => {
    const { ip, cookie } = await logIn(await start("10.0.0.1"));
    assert.equal(ip, "127.0.0.1");
    assert.match(cookie, /^lk=/);
    assert.doesNotMatch(cookie, /Secure/);
  });

  test("not set (Express's default, false): nothing believed", async () => {
    const { ip, cookie } = await logIn(await start(undefined));
    assert.equal(ip, "127.0.0.1");
    assert.match(cookie, /^lk=/);
  });

  test("the adapter's trustProxy, when given, wins over Express's setting", async () => {
    const refused = await logIn(await start("loopback", false));
    assert.equal(refused.ip, "127.0.0.1");
    assert.match(refused.cookie, /^lk=/);
    const trusted = await logIn(await start(undefined, 1));
    assert.equal(trusted.ip, "203.0.113.7");
    assert.match(trusted.cookie, /^__Host-lk=/);
  });
});
