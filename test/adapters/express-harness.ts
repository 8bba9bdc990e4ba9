import { createServer } from "node:http";
import type * as Express from "express";
import { crossOriginProtection, latchkey, type RequestSession } from "../../src/adapters/express/index.js";
import type { AdapterHarness, Fields } from "./adapter-harness.js";
import { overHTTP } from "./node-http-client.js";

type ExpressModule = typeof Express.default;
const sessionOf = (req: Express.Request) => req.session as unknown as RequestSession<Fields>;
const query = (req: Express.Request, name: string) => String(req.query[name] ?? "");

/**
 * Express through real HTTP requests. `load` gives the express module: Express 5 (`express`) or
 * Express 4 (`express4`, an npm alias; its types are Express 5's, which the routes below fit).
 * Handlers are wrapped so that Express 4, which ignores a handler's promise, also passes rejections to
 * `next`; from there the framework's default error handler answers, as in an app without its own.
 */
export function expressHarness(name: string, load: () => Promise<{ default: unknown }>): AdapterHarness {
  return {
    name,
    async start({ sessions, trustProxy = false, secure, anonymous = false, cookie = {} }) {
      const express = (await load()).default as ExpressModule;
      const app = express();
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
      const route =
        (handler: (req: Express.Request) => Promise<unknown>) =>
        (req: Express.Request, res: Express.Response, next: Express.NextFunction) => {
          handler(req).then((body) => res.json(body), next);
        };
      app.get(
        "/nothing",
        route(async () => ({ ok: true })),
      );
      app.get(
        "/whoami",
        route(async (req) => {
          const first = await sessionOf(req).load();
          const second = await sessionOf(req).load();
          return {
            user: first?.userId ?? null,
            username: first?.data.username ?? null,
            same: first === second,
            publicId: sessionOf(req).publicId,
          };
        }),
      );
      app.get(
        "/view",
        route(async (req) => ({
          visits: (await sessionOf(req).load({ increment: { visits: 1 } }))?.data.visits ?? null,
        })),
      );
      app.post(
        "/login",
        route(async (req) => {
          const user = query(req, "user");
          const keep = query(req, "keep") ? [query(req, "keep")] : [];
          const browserSession = query(req, "browser") === "1";
          return {
            id: (await sessionOf(req).create(user, { data: { username: user }, keep, browserSession })).id,
          };
        }),
      );
      app.post(
        "/rotate",
        route(async (req) => ({ id: (await sessionOf(req).rotate())?.id ?? null })),
      );
      app.post(
        "/reauthenticate",
        route(async (req) => {
          const before = (await sessionOf(req).load())?.authenticatedAt?.getTime() ?? null;
          const ok = await sessionOf(req).reauthenticate();
          return { ok, before, after: (await sessionOf(req).load())?.authenticatedAt?.getTime() ?? null };
        }),
      );
      app.post(
        "/logout",
        route(async (req) => {
          const notice = query(req, "notice");
          return { ended: await sessionOf(req).destroy(notice ? { flash: { notice } } : {}) };
        }),
      );
      app.post(
        "/flash",
        route(async (req) => {
          await sessionOf(req).flash("notice", query(req, "text"));
          return { ok: true };
        }),
      );
      app.get(
        "/flash",
        route(async (req) => {
          const session = await sessionOf(req).load({ takeFlash: true });
          return { user: session?.userId ?? null, notice: session?.flash.notice ?? null };
        }),
      );
      app.post(
        "/rename",
        route(async (req) => {
          const ok = await sessionOf(req).set({ username: query(req, "username") });
          return { ok, username: (await sessionOf(req).load())?.data.username ?? null };
        }),
      );
      app.post(
        "/forget",
        route(async (req) => {
          const ok = await sessionOf(req).unset(["username"]);
          return { ok, username: (await sessionOf(req).load())?.data.username ?? null };
        }),
      );
      app.post(
        "/bump",
        route(async (req) => ({ visits: await sessionOf(req).increment("visits", 5) })),
      );
      app.get(
        "/token",
        route(async (req) => ({ token: sessionOf(req).token ?? null })),
      );
      return overHTTP(createServer(app));
    },
  };
}
