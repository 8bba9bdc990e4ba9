/**
 * The library alone, without HTTP (issue 21's goal 2): page-view loads (one increment each) of one session
 * with 50 in flight, through latchkey's manager on each client library, against that client calling the
 * same Lua script with the same arguments itself, in the bench's own process, on the run's redis-server.
 * Rounds alternate the variants, so that a machine growing busier or quieter hurts each alike; the
 * report takes medians.
 *
 * The client's own call is its fastest: ioredis `evalsha`, node-redis `sendCommand` with `timeout: 0`
 * (node-redis 6's default 5-second per-command timeout costs it more than half its throughput, and an
 * app that cares would turn it off too).
 */
import { Redis } from "ioredis";
import { createSessionManager } from "latchkey";
import { createRedisStore } from "latchkey/redis";
import { createClient } from "redis";

/**
 * The store's page-view script, from the built library the bench runs against (dist/lib, beside
 * dist/bench): not part of the package's API, and importing src/ would emit a second copy.
 */
const { LOAD_SESSION } = (await import(new URL("../lib/stores/redis/lua.js", import.meta.url).href)) as {
  LOAD_SESSION: string;
};

export interface LibraryAloneResult {
  /** "ioredis" or "node-redis". */
  client: string;
  /** Loads per second of each round: the client calling the script itself. */
  ownCallPerSecond: number[];
  /** Loads per second of each round: `sessions.load(token, { increment })` through latchkey. */
  latchkeyPerSecond: number[];
}

const IN_FLIGHT = 50;
const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0";

/** `count` calls of `call`, IN_FLIGHT at a time: calls per second. */
async function rate(call: () => Promise<unknown>, count: number): Promise<number> {
  let started = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (started++ < count) await call();
    }),
  );
  return count / ((performance.now() - begin) / 1000);
}

interface Variant {
  client: string;
  ownCall: () => Promise<unknown>;
  latchkeyLoad: () => Promise<unknown>;
  close: () => Promise<void>;
}

/** One session made through latchkey, and the script's keys and arguments for it as latchkey sends them. */
async function sessionFor(
  sessions: ReturnType<typeof createSessionManager>,
  keys: (sessionId: string) => Promise<{ sessionKey: string; storageId: string }>,
) {
  const created = await sessions.create("library-alone", {
    data: { username: "library-alone", visits: 0 },
    userAgent: USER_AGENT,
    ip: "127.0.0.1",
  });
  const { sessionKey, storageId } = await keys(created.session.id);
  const indexPrefix = `lk:u:{${storageId.slice(0, 2)}}`;
  const scriptArgs = (): string[] => {
    const now = Date.now();
    // LOAD_SESSION's ARGV (lua.ts): now, idle, now + idle, now - touch interval, index prefix, id,
    // takeFlash, then the increment.
    return [String(now), "1800000", String(now + 1_800_000), String(now), indexPrefix, storageId, "0"].concat(
      ["visits", "1"],
    );
  };
  return { token: created.token, sessionKey, scriptArgs };
}

const FIELDS = { username: "string", visits: "integer" } as const;

/** The session key and storage id of a public id, found by SCAN (the bench never sees storage ids). */
function keyFinder(scan: (pattern: string) => Promise<string[]>) {
  return async (publicId: string) => {
    const [sessionKey] = await scan(`lk:s:*${publicId}*`);
    if (sessionKey === undefined) throw new Error("library-alone: the session key was not found");
    // lk:s:{tag}rest -> the storage id is tag + rest.
    const storageId = sessionKey.slice("lk:s:".length).replace("{", "").replace("}", "");
    return { sessionKey, storageId };
  };
}

async function ioredisVariant(redisURL: string): Promise<Variant> {
  const client = new Redis(redisURL);
  const sessions = createSessionManager({
    store: createRedisStore({ client }),
    fields: FIELDS,
    idleTimeoutSeconds: 1800,
  });
  const { token, sessionKey, scriptArgs } = await sessionFor(
    sessions,
    keyFinder((pattern) => client.keys(pattern)),
  );
  const sha = (await client.script("LOAD", LOAD_SESSION)) as string;
  return {
    client: "ioredis",
    ownCall: () => client.evalsha(sha, 1, sessionKey, ...scriptArgs()),
    latchkeyLoad: () => sessions.load(token, { increment: { visits: 1 } }),
    close: async () => {
      client.disconnect();
    },
  };
}

async function nodeRedisVariant(redisURL: string): Promise<Variant> {
  const client = createClient({ url: redisURL });
  client.on("error", () => undefined);
  await client.connect();
  const sessions = createSessionManager({
    store: createRedisStore({ client }),
    fields: FIELDS,
    idleTimeoutSeconds: 1800,
  });
  const { token, sessionKey, scriptArgs } = await sessionFor(
    sessions,
    keyFinder((pattern) => client.keys(pattern)),
  );
  const sha = await client.scriptLoad(LOAD_SESSION);
  return {
    client: "node-redis",
    ownCall: () => client.sendCommand(["EVALSHA", sha, "1", sessionKey, ...scriptArgs()], { timeout: 0 }),
    latchkeyLoad: () => sessions.load(token, { increment: { visits: 1 } }),
    close: async () => {
      client.destroy();
    },
  };
}

/** `rounds` rounds of `loads` loads per variant and client, alternating. */
export async function measureLibraryAlone(
  redisURL: string,
  rounds: number,
  loads: number,
): Promise<LibraryAloneResult[]> {
  const variants = [await ioredisVariant(redisURL), await nodeRedisVariant(redisURL)];
  try {
    const results = variants.map(
      (v): LibraryAloneResult => ({ client: v.client, ownCallPerSecond: [], latchkeyPerSecond: [] }),
    );
    // A first, unmeasured pass: JIT warm-up and the script cache.
    for (const v of variants) {
      await rate(v.ownCall, Math.min(loads, 2000));
      await rate(v.latchkeyLoad, Math.min(loads, 2000));
    }
    for (let round = 0; round < rounds; round++) {
      for (const [i, v] of variants.entries()) {
        const result = results[i] as LibraryAloneResult;
        // Alternate which goes first, as the suite does with cases.
        if (round % 2 === 0) {
          result.ownCallPerSecond.push(await rate(v.ownCall, loads));
          result.latchkeyPerSecond.push(await rate(v.latchkeyLoad, loads));
        } else {
          result.latchkeyPerSecond.push(await rate(v.latchkeyLoad, loads));
          result.ownCallPerSecond.push(await rate(v.ownCall, loads));
        }
      }
    }
    return results;
  } finally {
    for (const v of variants) await v.close();
  }
}
