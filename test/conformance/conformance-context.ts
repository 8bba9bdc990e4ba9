import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LatchkeyError, type LatchkeyErrorCode } from "../../src/core/errors.js";
import type { FieldSchema } from "../../src/core/fields.js";
import { createSessionManager, type SessionManager } from "../../src/core/session-manager.js";
import type { SessionStore } from "../../src/core/session-store.js";

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

/** The session fields every conformance manager uses: one of each kind. */
export const SCHEMA = {
  name: "string",
  visits: "integer",
  admin: "boolean",
  prefs: "json",
} as const satisfies FieldSchema;
export type Schema = typeof SCHEMA;

/** Short lifetimes so that the expiry tests take about a second. */
export const IDLE_MS = 400;
export const ABSOLUTE_MS = 1200;
export const TOUCH_INTERVAL_MS = 200;

/** How far past a deadline a "must be gone" check waits: clock granularity, Redis expiring at > not >=. */
export const MARGIN_MS = 100;

/** Sleeps until the wall clock reads at least `time` (ms since the epoch). */
export async function sleepUntil(time: number): Promise<void> {
  const wait = time - Date.now();
  if (wait > 0) await sleep(wait);
}

/**
 * Ends a timing test whose "must still be alive" precondition did not hold because the event loop
 * overslept: a skip with the reason, never a failure of a correct store, never a retry.
 */
export function tooSlow(t: TestContext, what: string): void {
  t.skip(`the machine was too slow to decide: ${what}`);
}

/** The store under test and managers over it, each with different lifetimes. */
export interface Context {
  target: ConformanceTarget;
  /** Long lifetimes (a minute): for tests that must not race a timer. */
  steady: SessionManager<Schema>;
  /** Idle 0.4 s, absolute 1.2 s. */
  short: SessionManager<Schema>;
  /** Like `short`, with the idle timer refreshed at most every 0.2 s. */
  throttled: SessionManager<Schema>;
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
): Promise<Context> {
  const target = await factory();
  const run = randomUUID().slice(0, 8);
  let counter = 0;
  const issued = new Set<string>();
  const manager = (lifetimes: {
    idleTimeoutSeconds: number;
    absoluteTimeoutSeconds: number;
    touchIntervalSeconds?: number;
  }) => tracked(createSessionManager({ store: target.store, fields: SCHEMA, ...lifetimes }), issued);
  return {
    target,
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
