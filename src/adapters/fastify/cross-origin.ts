import type { FastifyPluginCallback, FastifyRequest } from "fastify";
import {
  type CrossOriginProtectionOptions,
  createCrossOriginCheck as createCheck,
  isSafeMethod,
} from "../../http/cross-origin.js";
import { CrossOriginRequestError } from "../../http/http-errors.js";

/**
 * The cross-origin check on a Fastify request (see `latchkey/http`'s `createCrossOriginCheck`): true when
 * the request comes from another origin and is not trusted, whatever its method. Use it to decide how to
 * answer a GET that has side effects (a logout link followed from another site).
 */
export function createCrossOriginCheck(
  options: CrossOriginProtectionOptions = {},
): (request: FastifyRequest) => boolean {
  const check = createCheck(options);
  return (request) =>
    check({
      host: request.headers.host,
      origin: request.headers.origin,
      secFetchSite: request.headers["sec-fetch-site"],
    });
}

/**
 * Refuses cross-origin state-changing requests with a `CrossOriginRequestError` (403) before their body
 * is read. Registered without encapsulation, so it guards every route of the instance.
 *
 * @example
 * await app.register(crossOriginProtection, { trustedOrigins: ["https://admin.example.com"] });
 */
export const crossOriginProtection: FastifyPluginCallback<CrossOriginProtectionOptions> = Object.assign(
  function crossOriginProtection(
    fastify: Parameters<FastifyPluginCallback<CrossOriginProtectionOptions>>[0],
    options: CrossOriginProtectionOptions,
    done: (error?: Error) => void,
  ) {
    let isCrossOrigin: (request: FastifyRequest) => boolean;
    try {
      isCrossOrigin = createCrossOriginCheck(options);
    } catch (error) {
      done(error as Error);
      return;
    }
    fastify.addHook("onRequest", (request, _reply, next) => {
      if (!isSafeMethod(request.method) && isCrossOrigin(request)) {
        next(new CrossOriginRequestError());
        return;
      }
      next();
    });
    done();
  },
  {
    [Symbol.for("skip-override")]: true,
    [Symbol.for("fastify.display-name")]: "latchkey-cross-origin-protection",
    [Symbol.for("plugin-meta")]: { name: "latchkey-cross-origin-protection", fastify: "5.x" },
  },
);
