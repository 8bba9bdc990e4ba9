import type { ForwardedSession, RotationForward } from "../../core/session-store.js";

/** What the old id of a renewed token holds for its grace period (`RotationForward`). */
export interface Forward {
  /** The successor's storage id. */
  to: string;
  sealedToken: string;
  /** When the forward is gone: the rotation's `now` plus its `graceMs`. */
  until: number;
}

/**
 * The memory store's `makeRoom`: makes room for one more entry in `pool`, evicting its oldest with
 * `evict`. The store owns it so that one sweep cadence counts the inserts of sessions and forwards alike.
 */
export type MakeRoom = (
  now: number,
  pool: ReadonlyMap<string, unknown>,
  max: number,
  evict: (id: string) => void,
) => void;

export interface MemoryForwardsOptions {
  /** Most forwards of signed-in users' tokens kept at once (the store's `maxSessions`). */
  maxForwards: number;
  /** Most forwards of anonymous tokens kept at once (the store's `maxAnonymousSessions`). */
  maxAnonymousForwards: number;
  makeRoom: MakeRoom;
}

/** The forward side of the memory store: what `rotate` writes and `load`, `update`, `take`, `destroy` follow. */
export interface MemoryForwards {
  /** The forward at `id` if it is alive at `now`; one past its time is deleted. */
  at(id: string, now: number): Forward | undefined;
  /**
   * Makes `oldId` forward to `to` until `now + forward.graceMs`, in the pool of `userId`'s kind
   * (anonymous when it is ""), dropping that pool's oldest forward when it is full.
   */
  add(oldId: string, to: string, userId: string, forward: RotationForward, now: number): void;
  /** Deletes the forward at `id`, if there is one. */
  drop(id: string): void;
  /** Drops forwards past their time. */
  sweep(now: number): void;
  dump(): string[];
  clear(): void;
}

/**
 * Forwards (the old ids of renewed tokens, each for its grace period), kept apart from sessions in two
 * pools bounded like the sessions': a burst of renewals can drop only older forwards, never a session,
 * and anonymous renewals never drop a signed-in user's forward. They are in no user index. The store
 * keeps an id a session or a forward, never both. Insertion order: the first is the oldest forward.
 */
export function createMemoryForwards({
  maxForwards,
  maxAnonymousForwards,
  makeRoom,
}: MemoryForwardsOptions): MemoryForwards {
  const forwards = new Map<string, Forward>();
  const anonymousForwards = new Map<string, Forward>();

  const at = (id: string, now: number): Forward | undefined => {
    const pool = forwards.has(id) ? forwards : anonymousForwards;
    const forward = pool.get(id);
    if (forward && now >= forward.until) {
      pool.delete(id);
      return undefined;
    }
    return forward;
  };

  return {
    at,
    add(oldId, to, userId, forward, now) {
      const [pool, max] = userId === "" ? [anonymousForwards, maxAnonymousForwards] : [forwards, maxForwards];
      makeRoom(now, pool, max, (id) => pool.delete(id));
      pool.set(oldId, { to, sealedToken: forward.sealedToken, until: now + forward.graceMs });
    },
    drop(id) {
      forwards.delete(id);
      anonymousForwards.delete(id);
    },
    sweep(now) {
      for (const id of forwards.keys()) at(id, now);
      for (const id of anonymousForwards.keys()) at(id, now);
    },
    dump() {
      const out: string[] = [];
      for (const [id, f] of [...forwards, ...anonymousForwards]) {
        out.push(`forward:${id}`, f.to, f.sealedToken, String(f.until));
      }
      return out;
    },
    clear() {
      forwards.clear();
      anonymousForwards.clear();
    },
  };
}

/** What `load` and `rotate` return at a live forward: a copy. */
export function forwarded(forward: Forward): ForwardedSession {
  return { forwardedTo: forward.to, sealedToken: forward.sealedToken };
}
