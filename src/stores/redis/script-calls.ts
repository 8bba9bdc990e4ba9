import type { Deadline } from "./command-deadline.js";
import type { RedisDriver } from "./driver.js";
import { SCRIPT_SOURCES, type ScriptArgument, type ScriptName } from "./lua.js";

/**
 * A script call: the command runner's deadline, its KEYS (all in one slot, routed by the first), then
 * its ARGV.
 */
export type ScriptCall<T> = (
  deadline: Deadline,
  keys: readonly string[],
  args: readonly ScriptArgument[],
) => Promise<T>;

/**
 * The scripts (`lua.ts`) as typed functions. The reply types are what Lua's replies become in RESP2
 * (and in RESP3, since the scripts never call `redis.setresp`): a Lua string a string, a number an
 * integer, a table an array, false nil (null).
 */
export interface StoreScripts {
  /** A session (JSON), 1 (found past `$e`), a forward (`[$s, successor, $x, sealed]`) or null. */
  load: ScriptCall<string | number | string[] | null>;
  create: ScriptCall<number>;
  update: ScriptCall<number[] | null>;
  rotate: ScriptCall<string[] | null>;
  take: ScriptCall<string[] | null>;
  destroy: ScriptCall<number>;
  listForUser: ScriptCall<string>;
  destroyById: ScriptCall<number>;
  destroyForUser: ScriptCall<number>;
  insertRecord: ScriptCall<number>;
  updateRecord: ScriptCall<number>;
  healthWrite: ScriptCall<number>;
}

/** Whether a call of script `name` with `args` changes what a user was told (and so must be replicated). */
function writesData(name: ScriptName, args: readonly ScriptArgument[]): boolean {
  if (name === "listForUser") return false;
  // A load writes only its idle timer, whose loss costs nothing, unless it counts (field/step pairs
  // after the 7 fixed arguments) or takes the flash messages.
  if (name === "load") return args.length > 7 || String(args[6]) === "1";
  return true;
}

/** What `waitForReplicas` asks: the replicas that must confirm a write, and how long to wait. */
export interface ReplicaAcknowledgement {
  replicas: number;
  timeoutMs: number;
}

/**
 * The scripts as typed functions that run on `driver` (each call: one EVALSHA on its keys' slot).
 * With `acknowledgement`, every call that writes is followed by WAIT on the same connection, and fails
 * when fewer replicas than asked confirm it in time: its outcome is then unknown to the caller.
 */
export function storeScripts(
  driver: Pick<RedisDriver, "runScript" | "waitForReplicas">,
  acknowledgement?: ReplicaAcknowledgement,
): StoreScripts {
  const scripts: Partial<Record<ScriptName, ScriptCall<unknown>>> = {};
  for (const name of Object.keys(SCRIPT_SOURCES) as ScriptName[]) {
    scripts[name] = (deadline, keys, args) => {
      const result = driver.runScript(name, keys, args, deadline);
      if (acknowledgement === undefined || !writesData(name, args)) return result;
      return result.then(async (value) => {
        await confirmByReplicas(driver, acknowledgement, deadline);
        return value;
      });
    };
  }
  return scripts as StoreScripts;
}

/**
 * Redis `WAIT` for the writes this connection made so far; throws (outcome unknown to the caller) when
 * fewer replicas than asked confirm them in time.
 */
export async function confirmByReplicas(
  driver: Pick<RedisDriver, "waitForReplicas">,
  { replicas, timeoutMs }: ReplicaAcknowledgement,
  deadline: Deadline,
): Promise<void> {
  const confirmed = await driver.waitForReplicas(replicas, timeoutMs, deadline);
  if (confirmed < replicas) {
    throw new Error(
      `the write was confirmed by ${confirmed} of ${replicas} replica(s) within ${timeoutMs} ms (waitForReplicas): it may not survive a failover`,
    );
  }
}
