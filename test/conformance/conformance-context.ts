import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { LatchkeyError, type LatchkeyErrorCode } from "../../src/core/errors.js";
import type { FieldSchema } from "../../src/core/fields.js";
import { createSessionManager, type SessionManager } from "../../src/core/session-manager.js";
import type { SessionStore } from "../../src/core/session-store.js";
import { storageIdOf, USER_TAG_LENGTH } from "../../src/core/token.js";

/** What a store's test file hands to `runSessionStoreConformance`. */
export interface ConformanceTarget {
  store: SessionStore;
  /**
   * Every key and value held by the backend, as strings, when the backend can list them (a Redis SCAN
   * plus the contents of each key). Used to prove that no token is ever stored and that dead sessions
   * leave nothing behind.
   */
  dump?: () => Promise<string[]>;
  /** Closes the store and releases the backend. */
  cleanup: () => Promise<void>;
}

/** A clock for the expiry tests: the real one, or a virtual one that `sleep` moves forward at once. */
export interface TestClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: TestClock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

/** A virtual clock, starting at the real time: `sleep` advances it and returns at once. */
export function virtualClock(start = Date.now()): TestClock {
  let time = start;
  return {
    now: () => time,
    async sleep(ms) {
      time += ms;
      await Promise.resolve();
    },
  };
}

/** The session fields every conformance manager uses: one of each kind. */
export const SCHEMA = {
  name: "string",
  visits: "integer",
  admin: "boolean",
  prefs: "json",
} as const satisfies FieldSchema;
export type Schema = typeof SCHEMA;

/**
 * The shortest lifetimes the manager accepts (whole seconds): on Redis the expiry group takes about
 * 5 seconds of real time, its tests running concurrently; on a virtual clock, none.
 */
export const IDLE_MS = 2000;
export const ABSOLUTE_MS = 5000;
export const TOUCH_INTERVAL_MS = 1000;

/** How far past a deadline a "must be gone" check waits: clock granularity, Redis expiring at > not >=. */
export const MARGIN_MS = 100;

/** Sleeps until `clock` reads at least `time` (ms since the epoch). */
export async function sleepUntil(time: number, clock: TestClock = realClock): Promise<void> {
  const wait = time - clock.now();
  if (wait > 0) await clock.sleep(wait);
}

/**
 * Asserts a timing precondition of a "must still be alive" check: that the step really ended before
 * the deadline. On a virtual clock it always holds; on real time it fails, never skips, if the machine
 * stalled for over a second (the margins are that wide), so a loaded CI cannot hide a regression.
 */
export function assertInTime(clock: TestClock, deadline: number, what: string): void {
  assert.ok(
    clock.now() < deadline,
    `the machine stalled past a deadline by ${clock.now() - deadline} ms: ${what}`,
  );
}

/** The store under test and managers over it, each with different lifetimes. */
export interface Context {
  target: ConformanceTarget;
  /** Long lifetimes (a minute): for tests that must not race a timer. */
  steady: SessionManager<Schema>;
  /** Idle 2 s, absolute 5 s, on `clock`. */
  short: SessionManager<Schema>;
  /** Like `short`, with the idle timer refreshed at most every 1 s. */
  throttled: SessionManager<Schema>;
  /** The clock of every manager here: virtual for the memory store, real for Redis. */
  clock: TestClock;
  /** A fresh user id, unique to this run, so tests never see each other's sessions. */
  user(label: string): string;
  /** A fresh record key, unique to this run. */
  key(label: string): string;
  /** Every token any manager issued (create and rotate), to look for in the dump. */
  issued: Set<string>;
  /** False when the store keeps no per-user index: tests then leave out their listForUser checks. */
  userIndex: boolean;
}

/** Builds the context lazily: the store only exists once the suite's `before` hook has run. */
export async function createContext(
  factory: () => Promise<ConformanceTarget>,
  userIndex: boolean,
  virtual?: TestClock,
): Promise<Context> {
  const target = await factory();
  const run = randomUUID().slice(0, 8);
  let counter = 0;
  const issued = new Set<string>();
  // A store that takes all its time from the manager (memory) runs on a virtual clock, so that its
  // expiry tests never sleep and never depend on the machine's speed; Redis TTLs keep real time.
  const clock = virtual ?? realClock;
  const manager = (lifetimes: {
    idleTimeoutSeconds: number;
    absoluteTimeoutSeconds: number;
    touchIntervalSeconds?: number;
  }) =>
    tracked(
      createSessionManager({ store: target.store, fields: SCHEMA, clock: () => clock.now(), ...lifetimes }),
      issued,
    );
  return {
    target,
    clock,
    steady: manager({ idleTimeoutSeconds: 60, absoluteTimeoutSeconds: 120 }),
    short: manager({ idleTimeoutSeconds: IDLE_MS / 1000, absoluteTimeoutSeconds: ABSOLUTE_MS / 1000 }),
    throttled: manager({
      idleTimeoutSeconds: IDLE_MS / 1000,
      absoluteTimeoutSeconds: ABSOLUTE_MS / 1000,
      touchIntervalSeconds: TOUCH_INTERVAL_MS / 1000,
    }),
    user: (label) => `conformance-${label}-${run}-${++counter}`,
    key: (label) => `conformance:${label}:${run}:${++counter}`,
    issued,
    userIndex,
  };
}

/** A manager that remembers every token it hands out. */
export function tracked<S extends FieldSchema>(
  manager: SessionManager<S>,
  issued: Set<string>,
): SessionManager<S> {
  return {
    ...manager,
    async create(userId, options) {
      const created = await manager.create(userId, options);
      issued.add(created.token);
      return created;
    },
    async rotate(token) {
      const rotated = await manager.rotate(token);
      if (rotated) issued.add(rotated.token);
      return rotated;
    },
  };
}

/**
 * What of a token's storage id every dump shows whole: the digest after the slot tag (Redis keys put
 * the tag in braces, `s:{tag}digest`, and index entries hold tag + digest).
 */
export function storedIdOf(token: string): string {
  return storageIdOf(token).slice(USER_TAG_LENGTH);
}

/** Asserts that no key or value in the backend contains any of `needles`; does nothing without a dump. */
export async function assertNotStored(
  target: ConformanceTarget,
  needles: string | readonly string[],
  what: string,
): Promise<void> {
  if (!target.dump) return;
  const entries = await target.dump();
  for (const needle of typeof needles === "string" ? [needles] : needles) {
    const found = entries.find((entry) => entry.includes(needle));
    assert.equal(found, undefined, `${what} must not be stored, found in ${JSON.stringify(found)}`);
  }
}

/** Asserts that some key or value contains `needle` (the positive control for `assertNotStored`). */
export async function assertStored(target: ConformanceTarget, needle: string, what: string): Promise<void> {
  if (!target.dump) return;
  const entries = await target.dump();
  assert.ok(
    entries.some((entry) => entry.includes(needle)),
    `${what} should appear in the dump (keys are expected to contain the storage id)`,
  );
}

/** A predicate for `assert.rejects`: a LatchkeyError with `code`. */
export function latchkeyError(code: LatchkeyErrorCode): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof LatchkeyError, `expected a LatchkeyError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

/** 1..n, to compare with the sorted results of n concurrent increments. */
export function oneTo(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
