import Fastify, { type FastifyRequest } from "fastify";
import { crossOriginProtection, latchkey, type RequestSession } from "../../src/adapters/fastify/index.js";
import type { AdapterHarness, Fields, SuiteResponse } from "./adapter-harness.js";

const sessionOf = (request: FastifyRequest) => request.session as unknown as RequestSession<Fields>;
const query = (request: FastifyRequest, name: string) =>
  (request.query as Record<string, string>)[name] ?? "";

/** Fastify 5 through `inject`, its in-process client. */
export const fastifyHarness: AdapterHarness = {
  name: "fastify",
  async start({ sessions, trustProxy = false, secure, anonymous = false, cookie = {} }) {
    const app = Fastify({ trustProxy });
    await app.register(crossOriginProtection);
    await app.register(latchkey, {
      sessions: sessions as never,
      anonymous,
      ...(secure === undefined ? {} : { secure }),
      ...cookie,
    });
    app.get("/nothing", async () => ({ ok: true }));
    app.get("/whoami", async (request) => {
      const first = await sessionOf(request).load();
      const second = await sessionOf(request).load();
      return {
        user: first?.userId ?? null,
        username: first?.data.username ?? null,
        same: first === second,
        publicId: sessionOf(request).publicId,
      };
    });
    app.get("/view", async (request) => {
      const session = await sessionOf(request).load({ increment: { visits: 1 } });
      return { visits: session?.data.visits ?? null };
    });
    app.post("/login", async (request) => {
      const user = query(request, "user");
      const keep = query(request, "keep") ? [query(request, "keep")] : [];
      const browserSession = query(request, "browser") === "1";
      return {
        id: (await sessionOf(request).create(user, { data: { username: user }, keep, browserSession })).id,
      };
    });
    app.post("/rotate", async (request) => ({ id: (await sessionOf(request).rotate())?.id ?? null }));
    app.post("/reauthenticate", async (request) => {
      const before = (await sessionOf(request).load())?.authenticatedAt?.getTime() ?? null;
      const ok = await sessionOf(request).reauthenticate();
      return { ok, before, after: (await sessionOf(request).load())?.authenticatedAt?.getTime() ?? null };
    });
    app.post("/logout", async (request) => {
      const notice = query(request, "notice");
      return { ended: await sessionOf(request).destroy(notice ? { flash: { notice } } : {}) };
    });
    app.post("/flash", async (request) => {
      await sessionOf(request).flash("notice", query(request, "text"));
      return { ok: true };
    });
    app.get("/flash", async (request) => {
      const session = await sessionOf(request).load({ takeFlash: true });
      return { user: session?.userId ?? null, notice: session?.flash.notice ?? null };
    });
    app.post("/rename", async (request) => {
      const ok = await sessionOf(request).set({ username: query(request, "username") });
      return { ok, username: (await sessionOf(request).load())?.data.username ?? null };
    });
    app.post("/forget", async (request) => {
      const ok = await sessionOf(request).unset(["username"]);
      return { ok, username: (await sessionOf(request).load())?.data.username ?? null };
    });
    app.post("/bump", async (request) => ({ visits: await sessionOf(request).increment("visits", 5) }));
    app.get("/token", async (request) => ({ token: sessionOf(request).token ?? null }));
    await app.ready();
    return {
      async request({ method, path, headers = {} }) {
        const response = await app.inject({ method, url: path, headers });
        const flat: Record<string, string> = {};
        let setCookies: string[] = [];
        for (const [name, value] of Object.entries(response.headers)) {
          if (value === undefined) continue;
          if (name === "set-cookie") setCookies = Array.isArray(value) ? value : [String(value)];
          else flat[name] = Array.isArray(value) ? value.join(", ") : String(value);
        }
        return {
          status: response.statusCode,
          headers: flat,
          setCookies,
          body: response.body,
        } as SuiteResponse;
      },
      close: () => app.close(),
    };
  },
};
