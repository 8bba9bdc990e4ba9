import { connect } from "node:net";
import { type ConnectionOptions, connect as connectTLS } from "node:tls";

/**
 * A minimal RESP client for the test harness: one short-lived TCP (or TLS) connection, a few commands, their
 * replies. The harness uses it instead of ioredis so that probing a server (PING while it starts,
 * CLUSTER INFO, INFO commandstats) never reconnects in the background, prints nothing and adds no
 * commands of its own to the statistics it reads.
 */

export type RespReply = string | number | null | RespError | RespReply[];

/** A `-ERR ...` reply: a value, not a thrown error, so that "any answer" can count as "alive". */
export class RespError {
  constructor(readonly message: string) {}
}

export interface RespTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** Connect over TLS with these options (e.g. `{ ca }` of a harness TLS server). */
  tls?: ConnectionOptions;
}

/** The host, port and credentials of a `redis://user:password@host:port` URL. */
export function respTargetOf(url: string): RespTarget {
  const parsed = new URL(url);
  const target: RespTarget = {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1",
    port: Number(parsed.port || 6379),
  };
  if (parsed.password) {
    target.password = decodeURIComponent(parsed.password);
    if (parsed.username) target.username = decodeURIComponent(parsed.username);
  }
  return target;
}

/**
 * Sends `commands` (after AUTH when the target has a password) and resolves with one reply per
 * command. Rejects on a socket error (ECONNREFUSED while a server starts) or after `timeoutMs`.
 */
export function respCommands(
  target: RespTarget,
  commands: readonly (readonly string[])[],
  timeoutMs = 2000,
): Promise<RespReply[]> {
  const all: (readonly string[])[] = [];
  if (target.password !== undefined) {
    all.push(target.username ? ["AUTH", target.username, target.password] : ["AUTH", target.password]);
  }
  all.push(...commands);
  return new Promise((resolve, reject) => {
    const socket = target.tls
      ? connectTLS({ ...target.tls, host: target.host, port: target.port })
      : connect({ host: target.host, port: target.port });
    let buffer = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(
      () => finish(new Error(`no reply from ${target.host}:${target.port}`)),
      timeoutMs,
    );
    const finish = (error: Error | null, replies?: RespReply[]): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve((replies ?? []).slice(all.length - commands.length));
    };
    socket.on("error", (error) => finish(error));
    socket.on(target.tls ? "secureConnect" : "connect", () => socket.write(all.map(encodeCommand).join("")));
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const replies: RespReply[] = [];
      let offset = 0;
      while (replies.length < all.length) {
        const parsed = parseReply(buffer, offset);
        if (parsed === undefined) return;
        replies.push(parsed.value);
        offset = parsed.next;
      }
      finish(null, replies);
    });
    socket.on("close", () => finish(new Error(`connection to ${target.host}:${target.port} closed`)));
  });
}

/** One command's reply, or a rejection as for `respCommands`. */
export async function respCommand(target: RespTarget, ...command: string[]): Promise<RespReply> {
  const [reply] = await respCommands(target, [command]);
  return reply ?? null;
}

function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
}

/** Parses one reply at `offset`; undefined when the buffer does not hold all of it yet. */
function parseReply(buffer: Buffer, offset: number): { value: RespReply; next: number } | undefined {
  const lineEnd = buffer.indexOf("\r\n", offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString("utf8", offset + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case "+":
      return { value: line, next: afterLine };
    case "-":
      return { value: new RespError(line), next: afterLine };
    case ":":
      return { value: Number(line), next: afterLine };
    case "$": {
      const length = Number(line);
      if (length < 0) return { value: null, next: afterLine };
      if (buffer.length < afterLine + length + 2) return undefined;
      return { value: buffer.toString("utf8", afterLine, afterLine + length), next: afterLine + length + 2 };
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return { value: null, next: afterLine };
      const items: RespReply[] = [];
      let next = afterLine;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, next);
        if (item === undefined) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`unexpected RESP reply type ${JSON.stringify(type)}`);
  }
}
