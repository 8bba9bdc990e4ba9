import { respCommand } from "./resp-client.js";

/**
 * Kills every client connection (`CLIENT KILL TYPE normal`) on the given servers, all at once, every
 * `intervalMs`, until `stop()`: the fault of a network blip or a proxy restart, which leaves commands
 * written whose replies are lost. Each round goes through a new connection of its own (which CLIENT
 * KILL skips), so the killer never kills itself.
 *
 * @example
 * const killer = killConnectionsRepeatedly(cluster.ports, 100);
 * await load();
 * const { rounds } = await killer.stop();
 */
export interface ConnectionKiller {
  /** Stops after the round under way; resolves with how many rounds ran and connections were killed. */
  stop(): Promise<{ rounds: number; killed: number }>;
}

export function killConnectionsRepeatedly(ports: readonly number[], intervalMs: number): ConnectionKiller {
  let rounds = 0;
  let killed = 0;
  let stopped = false;
  const round = async (): Promise<void> => {
    const replies = await Promise.all(
      ports.map((port) =>
        respCommand({ host: "127.0.0.1", port }, "CLIENT", "KILL", "TYPE", "normal").catch(() => 0),
      ),
    );
    rounds += 1;
    for (const reply of replies) if (typeof reply === "number") killed += reply;
  };
  const loop = (async () => {
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      if (!stopped) await round();
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { rounds, killed };
    },
  };
}
