import { createWebSessions, type WebSession } from "../../src/adapters/web/index.js";
import type { AdapterHarness, Fields, SuiteResponse } from "./adapter-harness.js";

type Session = WebSession<Fields>;
type Route = (session: Session, url: URL) => Promise<unknown>;

/**
 * The Web-standard adapter, called as a Fetch API framework calls a route handler: a Request in, a
 * Response out, through `handle` (the cross-origin check, the error responses, the cookie).
 */
export const webHarness: AdapterHarness = {
  name: "web (Fetch API)",
  async start({ sessions, trustProxy = false, secure, anonymous = false, cookie = {} }) {
    const web = createWebSessions({
      sessions: sessions as never,
      trustProxy,
      anonymous,
      ...(secure === undefined ? {} : { secure }),
      ...cookie,
    });
    const query = (url: URL, name: string) => url.searchParams.get(name) ?? "";
    const routes: Record<string, Route> = {
      "GET /nothing": async () => ({ ok: true }),
      "GET /whoami": async (session) => {
        const first = await session.load();
        const second = await session.load();
        return {
          user: first?.userId ?? null,
          username: first?.data.username ?? null,
          same: first === second,
          publicId: session.publicId,
        };
      },
      "GET /view": async (session) => ({
        visits: (await session.load({ increment: { visits: 1 } }))?.data.visits ?? null,
      }),
      "POST /login": async (session, url) => {
        const user = query(url, "user");
        const keep = query(url, "keep") ? [query(url, "keep")] : [];
        const browserSession = query(url, "browser") === "1";
        return { id: (await session.create(user, { data: { username: user }, keep, browserSession })).id };
      },
      "POST /rotate": async (session) => ({ id: (await session.rotate())?.id ?? null }),
      "POST /reauthenticate": async (session) => {
        const before = (await session.load())?.authenticatedAt?.getTime() ?? null;
        const ok = await session.reauthenticate();
        return { ok, before, after: (await session.load())?.authenticatedAt?.getTime() ?? null };
      },
      "POST /logout": async (session, url) => {
        const notice = query(url, "notice");
        return { ended: await session.destroy(notice ? { flash: { notice } } : {}) };
      },
      "POST /flash": async (session, url) => {
        await session.flash("notice", query(url, "text"));
        return { ok: true };
      },
      "GET /flash": async (session) => {
        const loaded = await session.load({ takeFlash: true });
        return { user: loaded?.userId ?? null, notice: loaded?.flash.notice ?? null };
      },
      "POST /rename": async (session, url) => {
        const ok = await session.set({ username: query(url, "username") });
        return { ok, username: (await session.load())?.data.username ?? null };
      },
      "POST /forget": async (session) => {
        const ok = await session.unset(["username"]);
        return { ok, username: (await session.load())?.data.username ?? null };
      },
      "POST /bump": async (session) => ({ visits: await session.increment("visits", 5) }),
      "GET /token": async (session) => ({ token: session.token ?? null }),
    };
    const fetch = (request: Request): Promise<Response> => {
      const url = new URL(request.url);
      const route = routes[`${request.method} ${url.pathname}`];
      if (route === undefined) return Promise.resolve(new Response("Not Found", { status: 404 }));
      return web.handle(
        request,
        async (session) => Response.json(await route(session as unknown as Session, url)),
        { clientAddress: "127.0.0.1" },
      );
    };
    return {
      async request({ method, path, headers = {} }) {
        const response = await fetch(new Request(`http://app.test${path}`, { method, headers }));
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
