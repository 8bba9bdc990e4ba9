import { storageIdOf } from "../../src/core/token.js";
import { keyLayout } from "../../src/stores/redis/keys.js";
import { RespError, type RespReply, type RespTarget, respCommand } from "./resp-client.js";

/**
 * A user's session index read straight from Redis, beside the store: the failover checks must see
 * whether a session is in its index without `load` (whose script deletes a session it finds missing
 * from its index) or `listForUser` (which prunes entries). The one place the harness knows the key
 * layout (src/stores/redis/keys.ts: the index `<prefix>u:{<tag>}<userId>`, a ZSET of storage ids; the
 * session `<prefix>s:{<tag>}<id rest>`, a hash); update it here when the layout changes.
 */
export interface SessionIndexReader {
  /**
   * Whether the user's index lists the token's session, and whether its hash is stored at all (what a
   * `load` cannot say: it ends a session missing from its index). ZSCORE, then EXISTS: neither changes
   * anything nor touches a TTL.
   */
  look(userId: string, token: string): Promise<{ listed: boolean; stored: boolean }>;
  /** Takes the entry out of the index (to show that a check trips). */
  remove(userId: string, token: string): Promise<void>;
}

/**
 * Reads through `masters()`: the servers to try in turn (on a Cluster any node: a MOVED reply is followed
 * once; a node that is down is skipped). With Sentinel, return the master it names now: a replica would
 * answer from a copy that may lag.
 */
export function redisSessionIndex(
  masters: () => RespTarget[] | Promise<RespTarget[]>,
  keyPrefix = "lk:",
): SessionIndexReader {
  const keys = keyLayout(keyPrefix);
  const send = async (...command: string[]): Promise<RespReply> => {
    const failures: string[] = [];
    for (const target of await masters()) {
      let reply = await respCommand(target, ...command).catch((error: Error) => error);
      const moved = reply instanceof RespError ? /^MOVED \d+ (.+):(\d+)$/.exec(reply.message) : null;
      if (moved) {
        const to = { host: moved[1] as string, port: Number(moved[2]) };
        reply = await respCommand(to, ...command).catch((error: Error) => error);
      }
      if (reply instanceof Error) failures.push(`${target.port}: ${reply.message}`);
      else if (reply instanceof RespError) failures.push(`${target.port}: ${reply.message}`);
      else return reply;
    }
    throw new Error(`${command.join(" ")}: no server answered (${failures.join("; ")})`);
  };
  return {
    async look(userId, token) {
      const id = storageIdOf(token);
      const listed = (await send("ZSCORE", keys.userIndex(userId), id)) !== null;
      const stored = (await send("EXISTS", keys.session(id))) === 1;
      return { listed, stored };
    },
    async remove(userId, token) {
      await send("ZREM", keys.userIndex(userId), storageIdOf(token));
    },
  };
}
