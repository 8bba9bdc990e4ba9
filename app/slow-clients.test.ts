/**
 * Slow and idle clients cannot hold the server: header drips, idle keep-alive connections and silent
 * sockets are closed within their configured bounds, connections beyond HTTP_MAX_CONNECTIONS are closed
 * at once, and the app keeps answering beside hundreds of idle connections. Limits are set small here.
 */
import assert from "node:assert/strict";
import { type AddressInfo, connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import { DEFAULT_CONFIG } from "./config.js";

const LIMITS = {
  headersTimeoutSeconds: 1,
  requestTimeoutSeconds: 2,
  keepAliveTimeoutSeconds: 1,
  maxConnections: 400,
};
/** Node checks the deadlines every 250 ms here; a close may come that much after its deadline, and more on a loaded machine. */
const SLACK_MS = 2000;

const open = (port: number): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", reject);
  });

/** Milliseconds until the server closes the socket. */
const closedAfter = (socket: Socket, started: number): Promise<number> =>
  new Promise((resolve) => {
    socket.on("error", () => {});
    socket.on("close", () => resolve(Date.now() - started));
  });

async function get(port: number, path = "/"): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  await response.arrayBuffer();
  return response.status;
}

describe("slow and idle clients", () => {
  let app: FastifyInstance;
  let port = 0;
  before(async () => {
    app = await buildApp({ ...DEFAULT_CONFIG, logLevel: "silent", http: LIMITS });
    await app.listen({ port: 0, host: "127.0.0.1" });
    port = (app.server.address() as AddressInfo).port;
  });
  after(async () => {
    app.server.closeAllConnections();
    await app.close();
  });

  test("a client dripping its headers is cut off after HTTP_HEADERS_TIMEOUT", async () => {
    const socket = await open(port);
    const started = Date.now();
    const closed = closedAfter(socket, started);
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n");
    const drip = setInterval(() => socket.writable && socket.write("X-Drip: 1\r\n"), 200);
    const elapsed = await closed;
    clearInterval(drip);
    assert.ok(elapsed < LIMITS.headersTimeoutSeconds * 1000 + SLACK_MS, `closed after ${elapsed} ms`);
  });

  test("an idle keep-alive connection is closed after HTTP_KEEP_ALIVE_TIMEOUT", async () => {
    const socket = await open(port);
    const answered = new Promise<void>((resolve) => socket.once("data", () => resolve()));
    socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    await answered;
    const started = Date.now();
    const elapsed = await closedAfter(socket, started);
    assert.ok(elapsed < LIMITS.keepAliveTimeoutSeconds * 1000 + SLACK_MS, `closed after ${elapsed} ms`);
  });

  test("a keep-alive connection in use outlives the headers timeout", async () => {
    const socket = await open(port);
    const answers: string[] = [];
    socket.on("data", (chunk: Buffer) => answers.push(chunk.toString("latin1")));
    const ask = () => socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    // A request every 0.6 s for 2.4 s: twice the headers timeout, never idle for the keep-alive timeout.
    for (let i = 0; i < 4; i++) {
      ask();
      await new Promise((resolve) => setTimeout(resolve, 600));
    }
    assert.equal(
      answers.join("").match(/HTTP\/1\.1 200/g)?.length,
      4,
      "every request on the connection answered",
    );
    socket.destroy();
  });

  test("beside 300 silent connections the app answers at once, and the silent ones are closed", async () => {
    const started = Date.now();
    const idle = await Promise.all(Array.from({ length: 300 }, () => open(port)));
    const closes = idle.map((socket) => closedAfter(socket, started));
    assert.equal(await get(port), 200);
    const elapsed = Math.max(...(await Promise.all(closes)));
    assert.ok(
      elapsed < LIMITS.requestTimeoutSeconds * 1000 + SLACK_MS,
      `the last closed after ${elapsed} ms`,
    );
  });

  test("connections beyond HTTP_MAX_CONNECTIONS are closed at once; the server answers again after", async () => {
    const sockets = await Promise.all(Array.from({ length: LIMITS.maxConnections + 20 }, () => open(port)));
    let closedEarly = 0;
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 300);
            socket.on("error", () => {});
            socket.on("close", () => {
              closedEarly++;
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    assert.ok(closedEarly >= 20, `${closedEarly} of the extra connections closed at once`);
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await get(port), 200);
  });
});
