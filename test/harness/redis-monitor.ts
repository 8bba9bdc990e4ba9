import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { respCommand, respTargetOf } from "./resp-client.js";

/**
 * The commands clients sent to the server while `action` ran, in order, as lower-case names, from
 * MONITOR: exact where INFO commandstats is not, because commandstats (and total_commands_processed)
 * also count every command a Lua script runs inside. Commands run by scripts are left out; so are this
 * helper's own fence commands. Only `action`'s traffic should reach the server meanwhile.
 *
 * @example
 * assert.deepEqual(await clientCommandsDuring(url, () => sessions.load(token)), ["evalsha"]);
 */
export async function clientCommandsDuring(url: string, action: () => Promise<unknown>): Promise<string[]> {
  const commands: string[] = [];
  for (const line of await monitorLinesDuring(url, action)) {
    const match = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"/.exec(line);
    if (!match || match[1] === "lua") continue;
    const name = (match[2] as string).toLowerCase();
    if (name === "auth") continue; // the fences' own connections
    commands.push(name);
  }
  return commands;
}

/**
 * MONITOR's lines while `action` ran (every command and argument the server saw, scripts' own
 * commands included), between the helper's fences: for tests of what never reaches Redis in clear.
 */
export async function monitorLinesDuring(url: string, action: () => Promise<unknown>): Promise<string[]> {
  const target = respTargetOf(url);
  const fence = `harness-fence-${randomUUID()}`;
  const socket = connect({ host: target.host, port: target.port });
  let text = "";
  const seen = (pattern: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`MONITOR did not show ${pattern}`)), 5000);
      const check = () => {
        if (!text.includes(pattern)) return;
        clearTimeout(timer);
        socket.off("data", check);
        resolve();
      };
      socket.on("data", check);
      check();
    });
  socket.on("data", (chunk) => {
    text += chunk.toString();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const auth =
      target.password === undefined
        ? []
        : ["AUTH", ...(target.username ? [target.username] : []), target.password];
    const frame = (args: string[]) =>
      `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
    socket.write((auth.length ? frame(auth) : "") + frame(["MONITOR"]));
    await seen("+OK\r\n".repeat(auth.length ? 2 : 1));
    await respCommand(target, "ECHO", `${fence}-start`);
    await action();
    await respCommand(target, "ECHO", `${fence}-end`);
    await seen(`${fence}-end`);
  } finally {
    socket.destroy();
  }
  const lines = text.split("\r\n");
  const start = lines.findIndex((line) => line.includes(`${fence}-start`));
  const end = lines.findIndex((line) => line.includes(`${fence}-end`));
  return lines.slice(start + 1, end);
}
