import type { Cluster, Redis } from "ioredis";
import { keySlot } from "./key-slot.js";

/**
 * Which masters of an ioredis Cluster are known to be down, so that calls to their slots fail at once
 * instead of waiting in the node's queue for the command timeout (a login touches keys on every
 * master: waiting 1 s per dead one made most logins fail while one master was down).
 *
 * A node is known down once a connection attempt to it failed (refused, reset or timed out before the
 * connection was ready), and up again when a connection is ready. A connection that drops after it
 * was ready is not "down" yet: the node's client reconnects within 50 ms, and calls wait for that.
 * While a master is down, every failed attempt also refreshes the slot map, so that the promotion of
 * its replica is seen at once (nothing else would ask: calls to its slots are no longer sent).
 */
export interface ClusterNodeWatch {
  /** Why a call on `key` must fail now (its slot's master is known down), or undefined. */
  unreachable(key: string): string | undefined;
  stop(): void;
}

interface NodeState {
  /** A connection to the node was ready since the last one closed. */
  readySinceClose: boolean;
  /** Set while the node is known down: why. */
  down?: string;
  lastError?: Error;
}

export function watchClusterNodes(cluster: Cluster): ClusterNodeWatch {
  const states = new Map<string, NodeState>();
  const detachers = new Map<string, () => void>();

  const attach = (node: Redis): void => {
    const address = `${node.options.host}:${node.options.port}`;
    detachers.get(address)?.();
    const state: NodeState = { readySinceClose: false };
    states.set(address, state);
    const onReady = (): void => {
      state.readySinceClose = true;
      state.down = undefined;
      state.lastError = undefined;
    };
    const onError = (error: Error): void => {
      state.lastError = error;
    };
    const onClose = (): void => {
      if (!state.readySinceClose) {
        state.down = state.lastError?.message ?? "the connection closed before it was ready";
        // Learn at once whether a replica took over (one refresh at a time: ioredis skips the others).
        cluster.refreshSlotsCache();
      }
      state.readySinceClose = false;
    };
    node.on("ready", onReady).on("error", onError).on("close", onClose);
    detachers.set(address, () => {
      node.off("ready", onReady).off("error", onError).off("close", onClose);
      states.delete(address);
      detachers.delete(address);
    });
  };
  const detach = (node: Redis): void => {
    detachers.get(`${node.options.host}:${node.options.port}`)?.();
  };

  for (const node of cluster.nodes("all")) attach(node);
  cluster.on("+node", attach);
  cluster.on("-node", detach);

  return {
    unreachable(key) {
      const slot = keySlot(key);
      const master = cluster.slots[slot]?.[0];
      if (master === undefined) return undefined;
      const down = states.get(master)?.down;
      return down === undefined ? undefined : `the master ${master} of slot ${slot} is down (${down})`;
    },
    stop() {
      cluster.off("+node", attach);
      cluster.off("-node", detach);
      for (const detachNode of [...detachers.values()]) detachNode();
    },
  };
}
