/**
 * Slow and idle clients cannot hold the server: header drips, idle keep-alive connections and silent
 * sockets are closed within their configured bounds, connections beyond HTTP_MAX_CONNECTIONS are closed
 * at once, one client's beyond HTTP_MAX_CONNECTIONS_PER_CLIENT too, and the app keeps answering beside
 * hundreds of idle connections. Limits are set small here. Clients at several addresses are loopback
 * addresses (127.0.0.x: Linux routes all of 127/8 to the loopback interface).
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
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
  maxConnectionsPerClient: 100,
};
/** Node checks the deadlines every 250 ms here; a close may come that much later, and more on a loaded machine. */
const SLACK_MS = 2000;

interface Opened {
  socket: Socket;
  /** Milliseconds from connect to close; tracked from the start, so that no early close is missed. */
  closed: Promise<number>;
}

/** The loopback address of client `n` (0: 127.0.0.1). */
const clientAddress = (n: number) => `127.0.0.${n + 1}`;

const open = (port: number, localAddress = clientAddress(0)): Promise<Opened> =>
  new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ port, host: "127.0.0.1", localAddress });
    const closed = new Promise<number>((done) => socket.on("close", () => done(Date.now() - started)));
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.on("error", () => {});
      // A socket nobody reads from never sees the server's FIN, and so never closes: read and drop.
      socket.resume();
      resolve({ socket, closed });
    });
  });

/** A GET from `localAddress`; its status, or the error's code when the connection was refused or closed. */
function get(port: number, path = "/", localAddress = clientAddress(0)): Promise<number | string> {
  return new Promise((resolve) => {
    const request = httpRequest({ port, host: "127.0.0.1", path, localAddress, agent: false }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode ?? 0));
    });
    request.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.end();
  });
}

// A bound on every test: a close that never comes must fail the test, not hang the suite.
describe("slow and idle clients", { timeout: 30_000 }, () => {
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
    const { socket, closed } = await open(port);
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n");
    const drip = setInterval(() => socket.writable && socket.write("X-Drip: 1\r\n"), 200);
    const elapsed = await closed;
    clearInterval(drip);
    assert.ok(elapsed < LIMITS.headersTimeoutSeconds * 1000 + SLACK_MS, `closed after ${elapsed} ms`);
  });

  test("an idle keep-alive connection is closed after HTTP_KEEP_ALIVE_TIMEOUT", async () => {
    const { socket, closed } = await open(port);
    const opened = Date.now();
    const answered = new Promise<number>((resolve) => socket.once("data", () => resolve(Date.now())));
    socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    const idleFrom = (await answered) - opened;
    const idleFor = (await closed) - idleFrom;
    assert.ok(idleFor < LIMITS.keepAliveTimeoutSeconds * 1000 + SLACK_MS, `closed after ${idleFor} ms idle`);
  });

  test("a keep-alive connection in use outlives the headers timeout", async () => {
    const { socket } = await open(port);
    const answers: string[] = [];
    socket.on("data", (chunk: Buffer) => answers.push(chunk.toString("latin1")));
    // A request every 0.6 s for 2.4 s: twice the headers timeout, never idle for the keep-alive timeout.
    for (let i = 0; i < 4; i++) {
      socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
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
    // Three clients, each at its per-client cap.
    const idle = await Promise.all(
      Array.from({ length: 300 }, (_, i) => open(port, clientAddress(1 + (i % 3)))),
    );
    assert.equal(await get(port), 200);
    const elapsed = Math.max(...(await Promise.all(idle.map(({ closed }) => closed))));
    assert.ok(
      elapsed < LIMITS.headersTimeoutSeconds * 1000 + SLACK_MS,
      `the last closed after ${elapsed} ms`,
    );
  });

  test("connections beyond HTTP_MAX_CONNECTIONS are closed at once; the server answers again after", async () => {
    // Five clients with 84 each, none over its share: together 20 over the server's cap.
    const opened = await Promise.all(
      Array.from({ length: LIMITS.maxConnections + 20 }, (_, i) => open(port, clientAddress(1 + (i % 5)))),
    );
    // Well under the headers timeout: only the connections over the limit can have closed by then.
    const soon = new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 300));
    const states = await Promise.all(opened.map(({ closed }) => Promise.race([closed, soon])));
    const closedEarly = states.filter((state) => state !== "open").length;
    assert.ok(closedEarly >= 20, `${closedEarly} of the extra connections closed at once`);
    for (const { socket } of opened) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await get(port), 200);
  });

  test("one client holding silent sockets up to the server's cap takes only its share: others are served", async () => {
    const attacker = clientAddress(10);
    const opened = await Promise.allSettled(
      Array.from({ length: LIMITS.maxConnections }, () => open(port, attacker)),
    );
    const sockets = opened.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
    const soon = new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 300));
    const states = await Promise.all(sockets.map(({ closed }) => Promise.race([closed, soon])));
    // Everyone else: served at once (before, the cap was full and their connections were closed).
    assert.equal(await get(port, "/", clientAddress(11)), 200);
    assert.equal(await get(port, "/", clientAddress(12)), 200);
    const stillOpen = states.filter((state) => state === "open").length;
    assert.ok(stillOpen <= LIMITS.maxConnectionsPerClient, `${stillOpen} of the client's connections open`);
    for (const { socket } of sockets) socket.destroy();
  });
});
