/**
 * What Redis saw: commands (INFO commandstats), read events (INFO stats), CPU (INFO cpu) and memory
 * (INFO memory), as snapshots to diff around a load.
 *
 * Redis facts a reader would trip on:
 * - commandstats and total_commands_processed count the commands a Lua script runs with redis.call as
 *   well as the EVALSHA itself, so "commands per request" is not "round trips per request".
 * - total_reads_processed counts read events on client sockets: with one request in flight at a time,
 *   each round trip (one command, a pipeline or a MULTI block written at once) is one read event. Under
 *   concurrent load a client library coalesces requests, so it only gives an upper bound there.
 * - MONITOR reports commands run by scripts with the source "lua": the one way to tell them apart.
 */
import type { Redis } from "ioredis";

export type Info = Record<string, string>;

export function parseInfo(text: string): Info {
  const info: Info = {};
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0 && !line.startsWith("#")) info[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return info;
}

/** The one command the bench sends while a case runs (to take snapshots); never counted against it. */
const ADMIN_COMMANDS = new Set(["info"]);

export interface RedisSnapshot {
  calls: Record<string, number>;
  /** Microseconds Redis spent in each command (commandstats `usec`; a script's includes what it ran). */
  micros: Record<string, number>;
  readsProcessed: number;
  cpuMicros: number;
}

export async function snapshot(admin: Redis): Promise<RedisSnapshot> {
  const info = parseInfo(await admin.info("all"));
  const calls: Record<string, number> = {};
  const micros: Record<string, number> = {};
  for (const [key, value] of Object.entries(info)) {
    if (!key.startsWith("cmdstat_")) continue;
    const name = key.slice("cmdstat_".length).toLowerCase();
    const match = /calls=(\d+),usec=(\d+)/.exec(value);
    if (match && !ADMIN_COMMANDS.has(name)) {
      calls[name] = Number(match[1]);
      micros[name] = Number(match[2]);
    }
  }
  return {
    calls,
    micros,
    readsProcessed: Number(info.total_reads_processed ?? 0),
    cpuMicros: (Number(info.used_cpu_user ?? 0) + Number(info.used_cpu_sys ?? 0)) * 1e6,
  };
}

export interface RedisDelta {
  /** Calls by command name, including those run inside scripts. */
  calls: Record<string, number>;
  totalCalls: number;
  scriptCalls: number;
  /** Microseconds Redis spent running the scripts (EVALSHA and the commands inside). */
  scriptMicros: number;
  readsProcessed: number;
  cpuMicros: number;
}

const SCRIPT_COMMANDS = new Set(["evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro"]);

export function diff(before: RedisSnapshot, after: RedisSnapshot): RedisDelta {
  const calls: Record<string, number> = {};
  let totalCalls = 0;
  let scriptCalls = 0;
  let scriptMicros = 0;
  for (const [name, count] of Object.entries(after.calls)) {
    const delta = count - (before.calls[name] ?? 0);
    if (delta <= 0) continue;
    calls[name] = delta;
    totalCalls += delta;
    if (SCRIPT_COMMANDS.has(name)) {
      scriptCalls += delta;
      scriptMicros += (after.micros[name] ?? 0) - (before.micros[name] ?? 0);
    }
  }
  return {
    calls,
    totalCalls,
    scriptCalls,
    scriptMicros,
    // The INFO that took `after` was itself one read event.
    readsProcessed: after.readsProcessed - before.readsProcessed - 1,
    cpuMicros: after.cpuMicros - before.cpuMicros,
  };
}

export interface CommandLog {
  /** Commands clients sent (an EVALSHA counts once, a pipeline counts each command). */
  topLevel: Record<string, number>;
  /** Commands scripts ran. */
  inScripts: Record<string, number>;
  stop(): Promise<void>;
}

/** Records every command Redis runs, split by who ran it, until `stop()`. Use only for short probes. */
export async function monitorCommands(admin: Redis): Promise<CommandLog> {
  const monitor = await admin.monitor();
  const adminPort = admin.stream?.localPort;
  const log: CommandLog = {
    topLevel: {},
    inScripts: {},
    stop: async () => {
      monitor.disconnect();
    },
  };
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    const name = (args[0] ?? "").toLowerCase();
    if (name === "monitor" || (adminPort !== undefined && source.endsWith(`:${adminPort}`))) return;
    const bucket = source === "lua" ? log.inScripts : log.topLevel;
    bucket[name] = (bucket[name] ?? 0) + 1;
  });
  return log;
}
