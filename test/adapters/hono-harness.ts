import { type Context, Hono } from "hono";
import { crossOriginProtection, latchkey, type RequestSession } from "../../src/adapters/hono/index.js";
import type { AdapterHarness, Fields, SuiteResponse } from "./adapter-harness.js";

const sessionOf = (c: Context) => c.get("session") as unknown as RequestSession<Fields>;

/** Hono through `app.request`, its in-process client; errors go to Hono's default error handler. */
export const honoHarness: AdapterHarness = {
  name: "hono",
  async start({ sessions, trustProxy = false, secure, anonymous = false, cookie = {} }) {
    const app = new Hono();
    app.use(crossOriginProtection());
    app.use(
      latchkey({
        sessions: sessions as never,
        trustProxy,
        anonymous,
        ...(secure === undefined ? {} : { secure }),
        ...cookie,
      }),
    );
    app.get("/nothing", (c) => c.json({ ok: true }));
    app.get("/whoami", async (c) => {
      const first = await sessionOf(c).load();
      const second = await sessionOf(c).load();
      return c.json({
        user: first?.userId ?? null,
        username: first?.data.username ?? null,
        same: first === second,
        publicId: sessionOf(c).publicId,
      });
    });
    app.get("/view", async (c) =>
      c.json({ visits: (await sessionOf(c).load({ increment: { visits: 1 } }))?.data.visits ?? null }),
    );
    app.post("/login", async (c) => {
      const user = c.req.query("user") ?? "";
      const keep = c.req.query("keep") ? [c.req.query("keep") as string] : [];
      const browserSession = c.req.query("browser") === "1";
      return c.json({
        id: (await sessionOf(c).create(user, { data: { username: user }, keep, browserSession })).id,
      });
    });
    app.post("/rotate", async (c) => c.json({ id: (await sessionOf(c).rotate())?.id ?? null }));
    app.post("/reauthenticate", async (c) => {
      const before = (await sessionOf(c).load())?.authenticatedAt?.getTime() ?? null;
      const ok = await sessionOf(c).reauthenticate();
      return c.json({ ok, before, after: (await sessionOf(c).load())?.authenticatedAt?.getTime() ?? null });
    });
    app.post("/logout", async (c) => {
      const notice = c.req.query("notice");
      return c.json({ ended: await sessionOf(c).destroy(notice ? { flash: { notice } } : {}) });
    });
    app.post("/flash", async (c) => {
      await sessionOf(c).flash("notice", c.req.query("text") ?? "");
      return c.json({ ok: true });
    });
    app.get("/flash", async (c) => {
      const session = await sessionOf(c).load({ takeFlash: true });
      return c.json({ user: session?.userId ?? null, notice: session?.flash.notice ?? null });
    });
    app.post("/rename", async (c) => {
      const ok = await sessionOf(c).set({ username: c.req.query("username") ?? "" });
      return c.json({ ok, username: (await sessionOf(c).load())?.data.username ?? null });
    });
    app.post("/forget", async (c) => {
      const ok = await sessionOf(c).unset(["username"]);
      return c.json({ ok, username: (await sessionOf(c).load())?.data.username ?? null });
    });
    app.post("/bump", async (c) => c.json({ visits: await sessionOf(c).increment("visits", 5) }));
    app.get("/token", (c) => c.json({ token: sessionOf(c).token ?? null }));
    return {
      async request({ method, path, headers = {} }) {
        const response = await app.request(`http://app.test${path}`, { method, headers });
        const flat: Record<string, string> = {};
        response.headers.forEach((value, name) => {
          if (name !== "set-cookie") flat[name] = value;
        });
        const result: SuiteResponse = {
          status: response.status,
          headers: flat,
          setCookies: response.headers.getSetCookie(),
          body: await response.text(),
        };
        return result;
      },
      async close() {},
    };
  },
};
