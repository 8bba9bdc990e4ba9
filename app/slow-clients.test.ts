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
/** Node checks the deadlines every 250 ms here; a close may come that much later, and more on a loaded machine. */
const SLACK_MS = 2000;

interface Opened {
  socket: Socket;
  /** Milliseconds from connect to close; tracked from the start, so that no early close is missed. */
  closed: Promise<number>;
}

const open = (port: number): Promise<Opened> =>
  new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, "127.0.0.1");
    const closed = new Promise<number>((done) => socket.on("close", () => done(Date.now() - started)));
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.on("error", () => {});
      // A socket nobody reads from never sees the server's FIN, and so never closes: read and drop.
      socket.resume();
      resolve({ socket, closed });
    });
  });

async function get(port: number, path = "/"): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  await response.arrayBuffer();
  return response.status;
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
    const idle = await Promise.all(Array.from({ length: 300 }, () => open(port)));
    assert.equal(await get(port), 200);
    const elapsed = Math.max(...(await Promise.all(idle.map(({ closed }) => closed))));
    assert.ok(
      elapsed < LIMITS.headersTimeoutSeconds * 1000 + SLACK_MS,
      `the last closed after ${elapsed} ms`,
    );
  });

  test("connections beyond HTTP_MAX_CONNECTIONS are closed at once; the server answers again after", async () => {
    const opened = await Promise.all(Array.from({ length: LIMITS.maxConnections + 20 }, () => open(port)));
    // Well under the headers timeout: only the connections over the limit can have closed by then.
    const soon = new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 300));
    const states = await Promise.all(opened.map(({ closed }) => Promise.race([closed, soon])));
    const closedEarly = states.filter((state) => state !== "open").length;
    assert.ok(closedEarly >= 20, `${closedEarly} of the extra connections closed at once`);
    for (const { socket } of opened) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await get(port), 200);
  });
});
