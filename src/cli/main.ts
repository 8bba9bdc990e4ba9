/**
 * The `latchkey` command (`latchkey.ts` runs it): the operator's command line, installed by the package ("bin"). It talks to the Redis
 * store directly (standalone, Sentinel or Cluster), through ioredis or node-redis, whichever is
 * installed. Exit status 0 on success, 1 on failure (one line on stderr), 2 on a usage error. It never
 * prints a token, a storage id or a password.
 * @module
 */
import { parseArgs } from "node:util";
import { InvalidArgumentError, InvalidOptionError } from "../core/errors.js";
import type { Session } from "../core/session-manager.js";
import { createSessionManager } from "../core/session-manager.js";
import { parseRedisURL } from "../stores/redis/redis-url.js";
import { CommandError, type Connection, connect, type Target } from "./connect.js";

const USAGE = `usage:
  latchkey sessions list USER [--json]     the user's live sessions
  latchkey sessions end USER [PUBLIC_ID]    end one session, or all of the user's
  latchkey sessions count [--json]          live sessions in the store (SCAN on every master)
  latchkey health [--json]                  the store's health, as /healthz reports it

connection (or REDIS_URL / REDIS_CLUSTER_URL):
  --redis-url redis://[user:password@]host:port[/db]   (rediss:// for TLS)
  --cluster-nodes URL,URL...                            seed nodes of a Cluster
  --sentinels [redis://[user:password@]]host:port,...   with --sentinel-name NAME
  --key-prefix PREFIX      the store's keyPrefix (default lk:)
  --timeout-ms MS          longest wait for a connection or a reply (default 5000)`;

/** A wrong command line: exit status 2, with the usage. */
class UsageError extends Error {}

interface Options {
  json: boolean;
  keyPrefix: string;
  timeoutMs: number;
  target: Target;
}

/** Replaces the passwords of redis:// URLs in a message, so that no output ever shows one. */
export function redact(text: string): string {
  return text.replace(/(rediss?:\/\/[^:@/\s]*:)[^@\s]*@/g, "$1***@");
}

function targetOf(values: Record<string, string | boolean | undefined>): Target {
  const env = process.env;
  const given = ["redis-url", "cluster-nodes", "sentinels"].filter((name) => values[name] !== undefined);
  if (given.length > 1) throw new UsageError(`give one of --${given.join(", --")}`);
  const list = (text: string) =>
    text
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part !== "");
  if (typeof values.sentinels === "string") {
    const name = values["sentinel-name"];
    if (typeof name !== "string" || name === "") throw new UsageError("--sentinels needs --sentinel-name");
    const parsed = list(values.sentinels).map((entry) =>
      parseRedisURL("--sentinels", entry.includes("://") ? entry : `redis://${entry}`),
    );
    if (parsed.length === 0) throw new UsageError("--sentinels lists no host:port");
    return {
      kind: "sentinels",
      sentinels: parsed.map((p) => p.node),
      name,
      credentials: parsed[0]?.credentials ?? {},
      db: parsed[0]?.db ?? 0,
    };
  }
  if (values["sentinel-name"] !== undefined) throw new UsageError("--sentinel-name needs --sentinels");
  const clusterNodes =
    typeof values["cluster-nodes"] === "string"
      ? values["cluster-nodes"]
      : values["redis-url"] === undefined
        ? env.REDIS_CLUSTER_URL
        : undefined;
  if (clusterNodes !== undefined && clusterNodes.trim() !== "") {
    const nodes = list(clusterNodes);
    if (nodes.length === 0) throw new UsageError("--cluster-nodes lists no URL");
    return { kind: "cluster", nodes };
  }
  const url = typeof values["redis-url"] === "string" ? values["redis-url"] : env.REDIS_URL;
  if (url === undefined || url.trim() === "") {
    throw new UsageError("say where Redis is: --redis-url, --cluster-nodes or --sentinels (or REDIS_URL)");
  }
  return { kind: "url", url: url.trim() };
}

const ARGUMENTS = {
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  "redis-url": { type: "string" },
  "cluster-nodes": { type: "string" },
  sentinels: { type: "string" },
  "sentinel-name": { type: "string" },
  "key-prefix": { type: "string" },
  "timeout-ms": { type: "string" },
} as const;

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: ARGUMENTS });
  } catch (error) {
    throw new UsageError(redact((error as Error).message));
  }
}

function parse(argv: string[]): { words: string[]; options: Options } {
  const parsed = parseCommandLine(argv);
  const { values, positionals } = parsed;
  if (values.help) throw new UsageError("");
  const timeoutText = values["timeout-ms"] ?? "5000";
  const timeoutMs = /^\d{1,6}$/.test(String(timeoutText)) ? Number(timeoutText) : 0;
  if (timeoutMs < 1 || timeoutMs > 60_000) throw new UsageError("--timeout-ms must be 1-60000");
  const keyPrefix = values["key-prefix"] ?? "lk:";
  if (typeof keyPrefix !== "string") throw new UsageError("--key-prefix needs a value");
  return {
    words: positionals,
    options: { json: values.json === true, keyPrefix, timeoutMs, target: targetOf(values) },
  };
}

/**
 * A session as printed, by public id. Its idle deadline is left out: it depends on the app's
 * idleTimeoutSeconds, which the store does not know; `expiresAt` is its absolute end.
 */
function shown(session: Session) {
  return {
    id: session.id,
    createdAt: session.createdAt.toISOString(),
    lastSeenAt: session.lastSeenAt.toISOString(),
    expiresAt: session.expiresAt.toISOString(),
    device: session.userAgent,
    ip: session.ip,
  };
}

type Run = (connection: Connection, options: Options, out: (line: string) => void) => Promise<number>;

/** The command a command line names, with its arguments checked (before connecting). */
function commandOf(words: string[]): Run {
  const [group, action, ...rest] = words;
  if (group === "health" && action === undefined) {
    return async ({ store }, { json }, out) => {
      const health = await store.health();
      if (json) out(JSON.stringify(health));
      else {
        out(`${health.status} (${health.kind})`);
        for (const node of health.nodes ?? []) {
          const what =
            node.problem ?? `reads ${node.reads ? "ok" : "fail"}, writes ${node.writes ? "ok" : "fail"}`;
          out(`  ${node.address || "(server)"}: ${what}`);
        }
        for (const problem of health.problems) out(`  problem: ${problem}`);
      }
      return health.status === "down" ? 1 : 0;
    };
  }
  if (group !== "sessions") throw new UsageError(group === undefined ? "" : `unknown command "${group}"`);
  if (action === "list" && rest.length === 1) {
    const [userId] = rest as [string];
    return async ({ store }, { json }, out) => {
      const sessions = (await createSessionManager({ store }).listForUser(userId)).map(shown);
      if (json) out(JSON.stringify({ userId, sessions }));
      else if (sessions.length === 0) out(`no live session of ${userId}`);
      else {
        out(
          "ID                CREATED                   LAST SEEN                 ENDS BY                   IP               DEVICE",
        );
        for (const s of sessions) {
          out(`${s.id}  ${s.createdAt}  ${s.lastSeenAt}  ${s.expiresAt}  ${s.ip.padEnd(15)}  ${s.device}`);
        }
      }
      return 0;
    };
  }
  if (action === "end" && (rest.length === 1 || rest.length === 2)) {
    const [userId, publicId] = rest as [string, string | undefined];
    return async ({ store }, { json }, out) => {
      const sessions = createSessionManager({ store });
      if (publicId === undefined) {
        const ended = await sessions.destroyForUser(userId);
        out(
          json
            ? JSON.stringify({ userId, ended })
            : `ended ${ended} session${ended === 1 ? "" : "s"} of ${userId}`,
        );
        return 0;
      }
      const ended = await sessions.destroyById(userId, publicId);
      if (!ended) throw new CommandError(`no live session ${publicId} of ${userId}`);
      out(json ? JSON.stringify({ userId, ended: 1 }) : `ended session ${publicId} of ${userId}`);
      return 0;
    };
  }
  if (action === "count" && rest.length === 0) {
    return async (connection, { json, keyPrefix }, out) => {
      let count = 0;
      let lastReport = Date.now();
      // Glob characters of the prefix are escaped: MATCH would read them as patterns. Forwards (the old
      // key of a renewed token, for its grace period) match too: docs/operating.md says so.
      const pattern = `${keyPrefix.replace(/[*?[\]\\]/g, "\\$&")}s:*`;
      await connection.scan(pattern, (keys, master) => {
        count += keys;
        if (Date.now() - lastReport >= 1000) {
          lastReport = Date.now();
          process.stderr.write(
            `latchkey: ${count} sessions so far (master ${master + 1} of ${connection.masters})\n`,
          );
        }
      });
      out(json ? JSON.stringify({ sessions: count, masters: connection.masters }) : String(count));
      return 0;
    };
  }
  throw new UsageError(`"${words.join(" ")}" is not a command`);
}

/** Runs a command line; resolves with the exit status. */
export async function main(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  let run: Run;
  let options: Options;
  try {
    const parsed = parse(argv);
    options = parsed.options;
    run = commandOf(parsed.words);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof InvalidOptionError)) throw error;
    const problem =
      error instanceof InvalidOptionError ? error.message.replace(/^latchkey: /, "") : error.message;
    process.stderr.write(`${problem ? `latchkey: ${redact(problem)}\n` : ""}${USAGE}\n`);
    return 2;
  }
  let connection: Connection | undefined;
  try {
    const library = process.env.LATCHKEY_REDIS_CLIENT || undefined;
    connection = await connect(options.target, options.keyPrefix, options.timeoutMs, library);
    return await run(connection, options, out);
  } catch (error) {
    if (error instanceof InvalidArgumentError) {
      process.stderr.write(`latchkey: ${redact(error.message.replace(/^latchkey: /, ""))}\n`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`latchkey: ${redact(message.replace(/^latchkey: /, ""))}\n`);
    return 1;
  } finally {
    await connection?.close().catch(() => {});
  }
}
