import type {
  StoreHealth,
  StoreNodeHealth,
  StoreNodePersistence,
  StorePersistence,
} from "../../core/session-store.js";
import type { RunCommand } from "./command-runner.js";
import { CLUSTER_SLOTS, type RedisDriver, type ServerNode } from "./driver.js";
import { keySlot } from "./key-slot.js";
import type { KeyLayout } from "./keys.js";
import type { StoreScripts } from "./script-calls.js";

/**
 * `health()` and `persistence()` of the Redis store.
 *
 * Health is one keyed read (GET) and one small write per server or Cluster master, all at once, each
 * bounded by the command timeout. The write is a hit on a health counter with a 1 s TTL (the
 * `healthWrite` script, whose first write is an INCR): Redis refuses it under OOM with noeviction, as it
 * refuses every create and visit count, while a DEL or a read would still pass. It lives under the
 * store's key prefix, so an ACL user limited to `~<prefix>*` may run it. On a Cluster each master gets a
 * counter whose hash tag falls in one of its slots, routed like any store call.
 */

/** The health counter's name (`KeyLayout.health`); a Cluster master's adds a hash tag. */
const HEALTH_COUNTER = "$latchkey-health";
const HEALTH_TTL_MS = 1000;
/** Candidate hash tags tried to give every master a key of its own (3 masters need about 6). */
const MAX_TAG_CANDIDATES = 100_000;

export interface HealthDeps {
  driver: RedisDriver;
  run: RunCommand;
  scripts: Pick<StoreScripts, "healthWrite">;
  keys: Pick<KeyLayout, "health">;
}

export async function checkHealth(deps: HealthDeps): Promise<StoreHealth> {
  const { driver, run, keys } = deps;
  if (driver.kind !== "redis-cluster") {
    const address = driver.topology().nodes[0]?.address ?? "";
    return summarize(driver.kind, [await probe(deps, address, keys.health(HEALTH_COUNTER))], []);
  }
  if (!driver.clusterReady()) {
    // No slot map: nothing can be routed. The ping waits for the first one, or says why there is none
    // (offline, no seed node answered).
    const problem = await run("health", (deadline) => driver.ping(deadline)).then(
      () => (driver.clusterReady() ? undefined : "the Cluster client has no slot map yet"),
      (error: unknown) => messageOf(error),
    );
    if (problem !== undefined) return { status: "down", kind: driver.kind, problems: [problem] };
  }
  const { nodes, slotOwners = [] } = driver.topology();
  const uncovered = slotOwners.filter((owner) => owner === undefined).length;
  const keyOf = masterKeys(slotOwners, nodes.length, keys);
  const slotCounts = new Map<string, number>();
  for (const owner of slotOwners) if (owner) slotCounts.set(owner, (slotCounts.get(owner) ?? 0) + 1);
  const results = await Promise.all(
    nodes.map(async (node): Promise<StoreNodeHealth> => {
      const slots = slotCounts.get(node.address) ?? 0;
      const key = keyOf.get(node.address);
      if (!node.connected) {
        const problem = `not connected (the master ${node.address} is down or unreachable)`;
        return { address: node.address, slots, reads: false, writes: false, problem };
      }
      if (key === undefined) {
        return { address: node.address, slots, reads: false, writes: false, problem: "no key found" };
      }
      return { ...(await probe(deps, node.address, key)), slots };
    }),
  );
  const problems =
    uncovered > 0
      ? [`${uncovered} of ${CLUSTER_SLOTS} hash slots have no master (CLUSTERDOWN for them)`]
      : [];
  return summarize(driver.kind, results, problems);
}

/** One read and one write on the key's server, at once. */
async function probe(deps: HealthDeps, address: string, key: string): Promise<StoreNodeHealth> {
  const { driver, run, scripts } = deps;
  const [read, write] = await Promise.all([
    run("health", (deadline) => driver.get(key, deadline)).then(
      () => undefined,
      (error: unknown) => messageOf(error),
    ),
    run("health", (deadline) => scripts.healthWrite(deadline, [key], [HEALTH_TTL_MS])).then(
      () => undefined,
      (error: unknown) => messageOf(error),
    ),
  ]);
  const node: StoreNodeHealth = { address, reads: read === undefined, writes: write === undefined };
  if (read !== undefined && write !== undefined) {
    node.problem =
      read === write ? `reads and writes fail: ${read}` : `reads fail: ${read}; writes fail: ${write}`;
  } else if (read !== undefined) {
    node.problem = `reads fail: ${read}`;
  } else if (write !== undefined) {
    node.problem = `writes fail: ${write}`;
  }
  return node;
}

function summarize(kind: string, nodes: StoreNodeHealth[], problems: string[]): StoreHealth {
  for (const node of nodes) {
    if (node.problem !== undefined)
      problems.push(node.address ? `${node.address}: ${node.problem}` : node.problem);
  }
  // A server out of memory still serves views, logouts and revocation (their scripts begin with a
  // write Redis allows when full); it refuses only new sessions and field writes. That is "degraded":
  // a load balancer that ejected every instance for it would take the signed-in users' pages down too.
  const full = (node: StoreNodeHealth) =>
    node.reads && !node.writes && /out of memory/i.test(node.problem ?? "");
  const serving = nodes.filter((node) => (node.reads && node.writes) || full(node)).length;
  const partly = kind === "redis-cluster" ? serving > 0 : serving === nodes.length;
  const status = problems.length === 0 ? "ok" : partly ? "degraded" : "down";
  return { status, kind, problems, nodes };
}

/**
 * A health counter key for every master: tags `{0}`, `{1}`, ... until each master owns one's slot.
 * Computed from the slot map each time (a few CRC16s), so a resharded Cluster is followed.
 */
function masterKeys(
  slotOwners: readonly (string | undefined)[],
  masters: number,
  keys: Pick<KeyLayout, "health">,
): Map<string, string> {
  const found = new Map<string, string>();
  for (let i = 0; found.size < masters && i < MAX_TAG_CANDIDATES; i++) {
    const key = keys.health(`${HEALTH_COUNTER}{${i}}`);
    const owner = slotOwners[keySlot(key)];
    if (owner !== undefined && !found.has(owner)) found.set(owner, key);
  }
  return found;
}

/** The error's message without the runner's "latchkey: <kind> <operation> failed: " prefix. */
function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^latchkey: \S+ \S+ failed: /, "");
}

/**
 * Persistence of every server (Cluster: every master): `INFO persistence` for AOF (`aof_enabled`) and
 * RDB snapshots taken (`rdb_saves`), and `CONFIG GET save` for RDB save points where the server allows
 * CONFIG (ElastiCache does not: there a server with neither AOF nor a snapshot taken yet is "unknown",
 * since its backups are configured outside Redis). Fails soft: a refused command leaves `undefined`.
 */
export async function checkPersistence(deps: Pick<HealthDeps, "driver" | "run">): Promise<StorePersistence> {
  const { driver, run } = deps;
  const nodes = await Promise.all(driver.topology().nodes.map((node) => persistenceOf(node, run)));
  const durable = nodes.some((node) => node.aof === false && node.rdb === false)
    ? false
    : nodes.length > 0 && nodes.every((node) => node.aof === true || node.rdb === true)
      ? true
      : undefined;
  return { durable, nodes };
}

async function persistenceOf(node: ServerNode, run: RunCommand): Promise<StoreNodePersistence> {
  const result: StoreNodePersistence = { address: node.address, aof: undefined, rdb: undefined };
  const problems: string[] = [];
  try {
    const info = String(
      await run("persistence", (deadline) => node.command(["INFO", "persistence"], deadline)),
    );
    const field = (name: string) => new RegExp(`^${name}:(\\S*)`, "m").exec(info)?.[1];
    const aof = field("aof_enabled");
    if (aof !== undefined) result.aof = aof === "1";
    if (Number(field("rdb_saves") ?? 0) > 0) result.rdb = true;
  } catch (error) {
    problems.push(`INFO persistence: ${messageOf(error)}`);
  }
  if (result.rdb === undefined) {
    try {
      const reply = await run("persistence", (deadline) => node.command(["CONFIG", "GET", "save"], deadline));
      const value = configValue(reply, "save");
      if (value !== undefined) result.rdb = value.trim() !== "";
    } catch (error) {
      problems.push(`CONFIG GET save: ${messageOf(error)}`);
    }
  }
  if (problems.length > 0 && (result.aof === undefined || result.rdb === undefined)) {
    result.problem = problems.join("; ");
  }
  return result;
}

/** CONFIG GET's reply: `[name, value]` in RESP2, `{ name: value }` (or a Map) in RESP3. */
function configValue(reply: unknown, name: string): string | undefined {
  if (Array.isArray(reply)) {
    const index = reply.findIndex((item) => String(item) === name);
    return index >= 0 && index + 1 < reply.length ? String(reply[index + 1]) : undefined;
  }
  if (reply instanceof Map) return reply.has(name) ? String(reply.get(name)) : undefined;
  if (reply && typeof reply === "object" && name in reply)
    return String((reply as Record<string, unknown>)[name]);
  return undefined;
}
