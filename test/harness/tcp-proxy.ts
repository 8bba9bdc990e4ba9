import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of a server, for tests that need a connection to fail in a precise way while
 * the server itself stays up (with its data): `hold()` stops passing the client's bytes on, so a
 * command is on the wire but never reaches Redis; `cut()` then drops every connection, and the held
 * bytes with them. New connections pass again once `release()` is called.
 *
 * @example
 * const proxy = await startTCPProxy(redis.port);
 * const client = await createClient({ url: proxy.url }).connect();
 * proxy.hold(); // the next command is "in flight" forever
 * proxy.cut();  // ...until its connection drops
 */
export interface TCPProxyHandle {
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** From now on, bytes from clients are dropped instead of passed to the server. */
  hold(): void;
  /** Passes client bytes again (on connections opened from now on, and on the open ones). */
  release(): void;
  /** Destroys every open connection, both sides. */
  cut(): void;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

export async function startTCPProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TCPProxyHandle> {
  let holding = false;
  let accepted = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    accepted += 1;
    const upstream = createConnection({ host: targetHost, port: targetPort });
    open.add(client);
    open.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("data", (chunk) => {
      if (!holding) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => client.write(chunk));
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no port");
  return {
    port: address.port,
    url: `redis://127.0.0.1:${address.port}`,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
    },
    cut: () => {
      for (const socket of open) socket.destroy();
      open.clear();
    },
    connections: () => accepted,
    stop: async () => {
      for (const socket of open) socket.destroy();
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
