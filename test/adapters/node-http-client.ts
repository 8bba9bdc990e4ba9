import { Agent, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { AppUnderTest, SuiteRequest, SuiteResponse } from "./adapter-harness.js";

/** A real HTTP client for a listening node:http server (Express has no in-process client of its own). */
export async function overHTTP(server: Server): Promise<AppUnderTest> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: 50 });
  return {
    request: (request) => send(port, agent, request),
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(
  port: number,
  agent: Agent,
  { method, path, headers = {} }: SuiteRequest,
): Promise<SuiteResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: "127.0.0.1", port, method, path, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const flat: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined && name !== "set-cookie")
            flat[name] = Array.isArray(value) ? value.join(", ") : value;
        }
        resolve({
          status: response.statusCode ?? 0,
          headers: flat,
          setCookies: response.headers["set-cookie"] ?? [],
          body: Buffer.concat(chunks).toString("utf8"),
        });
      });
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}
