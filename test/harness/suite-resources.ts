import { after } from "node:test";
import { type RedisServerHandle, startRedisServer } from "./redis-servers.js";

/**
 * What one describe block opens (its own redis-servers, stores, clients), closed in reverse order
 * after it. Call it inside the `describe`.
 *
 * @example
 * const { started, defer } = suiteResources();
 * const server = await started(["--maxmemory", "1"]);
 * defer(() => store.close());
 */
export function suiteResources(): {
  /** Closes (or stops) something after the suite, before what was opened earlier. */
  defer(cleanup: () => Promise<void>): void;
  /** A redis-server of the suite's own, stopped after it. */
  started(args?: string[]): Promise<RedisServerHandle>;
} {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return {
    defer: (cleanup) => {
      cleanups.push(cleanup);
    },
    async started(args) {
      const server = await startRedisServer(args ? { args } : {});
      cleanups.push(() => server.stop());
      return server;
    },
  };
}
