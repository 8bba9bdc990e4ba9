import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyReply, FastifyRequest, FastifyServerOptions } from "fastify";
import { SECURITY_HEADERS } from "./security-headers.js";
import { errorPage } from "./views/errors.js";

/**
 * The answers Fastify and Node give before any hook or route runs: a malformed URL (400), an over-long
 * route parameter (414), and the client errors of the HTTP parser (400, 408, 431). Left to their
 * defaults they are framework JSON without the security headers, echoing the raw path; here they are the
 * app's own error page, with the headers, quoting nothing of the request.
 */
export function frameworkErrorOptions(
  inMemory: () => boolean,
): Pick<FastifyServerOptions, "frameworkErrors" | "clientErrorHandler"> {
  const page = (status: number) => errorPage({ username: null, inMemory: inMemory() }, status).toString();
  return {
    frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
      const status = error.code === "FST_ERR_MAX_PARAM_LENGTH" ? 414 : 400;
      reply
        .code(status)
        .headers(SECURITY_HEADERS)
        .header("cache-control", "no-store")
        .type("text/html; charset=utf-8")
        .send(page(status));
    },
    clientErrorHandler(error: Error & { code?: string }, socket: Socket) {
      // A reset connection has nobody to answer.
      if (error.code === "ECONNRESET" || socket.destroyed) return;
      const status =
        error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
      if (socket.writable) {
        const body = Buffer.from(page(status));
        const headers = {
          ...SECURITY_HEADERS,
          "content-type": "text/html; charset=utf-8",
          "content-length": String(body.length),
          "cache-control": "no-store",
          connection: "close",
        };
        const head = Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join("");
        socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n`);
        socket.write(body);
      }
      socket.destroy(error);
    },
  };
}
