import assert from "node:assert/strict";
import { it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createSessionManager } from "../../src/core/session-manager.js";
import { sessionIdOf } from "../../src/core/token.js";
import {
  ABSOLUTE_MS,
  assertNotStored,
  assertStored,
  type Context,
  IDLE_MS,
  MARGIN_MS,
  SCHEMA,
  sleepUntil,
  TOUCH_INTERVAL_MS,
  tooSlow,
  tracked,
} from "./conformance-context.js";

/**
 * Idle, absolute and throttled expiry. These tests wait on real time (idle 0.4 s, absolute 1.2 s); they
 * use their own users and sessions, so they run concurrently and the group takes about 1.3 s.
 *
 * Timing is never assumed, only measured. A "must be gone" check runs after sleeping past the latest
 * possible deadline, which is always sound. A "must be alive" check is sound only when the step really
 * ended before the deadline (the refresh at `lastSeenAt` set it to at least lastSeenAt + idle, on every
 * backend); when a starved event loop overslept, the test says so and is marked skipped rather than
 * failing on a correct store, or retrying.
 */
export function expiryTests(ctx: () => Context, { userIndex }: { userIndex: boolean }): void {
  it("ends a session left idle past the idle timeout", async () => {
    const { short, user } = ctx();
    const userId = user("idle");
    const { token } = await short.create(userId);
    await sleepUntil(Date.now() + IDLE_MS + MARGIN_MS);
    assert.equal(await short.load(token), null);
    if (userIndex) assert.deepEqual(await short.listForUser(userId), []);
  });

  it("keeps a session in use alive past the idle timeout (sliding)", async (t) => {
    const { short, user } = ctx();
    const { token, session } = await short.create(user("sliding"));
    let refreshedAt = session.lastSeenAt.getTime();
    // 5 × 150 ms: almost two idle timeouts, well inside the absolute lifetime.
    for (let i = 1; i <= 5; i++) {
      await sleep(150);
      const loaded = await short.load(token);
      if (Date.now() >= refreshedAt + IDLE_MS) return tooSlow(t, `load ${i} ended after the idle deadline`);
      assert.ok(loaded, `load ${i} found the session`);
      assert.ok(loaded.lastSeenAt.getTime() > refreshedAt, "every load refreshes lastSeenAt");
      refreshedAt = loaded.lastSeenAt.getTime();
    }
    assert.ok(refreshedAt - session.createdAt.getTime() > IDLE_MS, "the session outlived one idle timeout");
  });

  it("ends a session at its absolute expiry despite constant activity", async (t) => {
    const { short, user } = ctx();
    const userId = user("absolute");
    const { token, session } = await short.create(userId);
    const expiresAt = session.expiresAt.getTime();
    assert.equal(expiresAt, session.createdAt.getTime() + ABSOLUTE_MS);
    let refreshedAt = session.lastSeenAt.getTime();
    while (Date.now() < expiresAt - 150) {
      const loaded = await short.load(token);
      if (Date.now() >= refreshedAt + IDLE_MS) return tooSlow(t, "a load ended after the idle deadline");
      assert.ok(loaded, `a load ${expiresAt - Date.now()} ms before the absolute expiry found the session`);
      assert.equal(loaded.expiresAt.getTime(), expiresAt, "activity never moves expiresAt");
      refreshedAt = loaded.lastSeenAt.getTime();
      await sleep(100);
    }
    // The last refresh would keep an uncapped idle timer running well past this point.
    await sleepUntil(expiresAt + 50);
    assert.equal(await short.load(token), null, "the last refresh did not outlive expiresAt");
    if (userIndex) assert.deepEqual(await short.listForUser(userId), []);
  });

  it("refreshes the idle timer at most once per touch interval", async (t) => {
    const { throttled, user } = ctx();
    const { token, session } = await throttled.create(user("throttle"));
    const created = session.lastSeenAt.getTime();
    for (const label of ["too soon to refresh", "still too soon"]) {
      await sleep(40);
      const loaded = await throttled.load(token);
      if (Date.now() >= created + TOUCH_INTERVAL_MS) return tooSlow(t, "a load ended after the interval");
      assert.equal(loaded?.lastSeenAt.getTime(), created, label);
    }
    await sleepUntil(created + TOUCH_INTERVAL_MS + 20);
    const due = await throttled.load(token);
    if (Date.now() >= created + IDLE_MS) return tooSlow(t, "the due load ended after the idle deadline");
    const refreshed = due?.lastSeenAt.getTime();
    assert.ok(refreshed !== undefined && refreshed >= created + TOUCH_INTERVAL_MS, "refreshed once due");
    const again = await throttled.load(token);
    if (Date.now() >= refreshed + TOUCH_INTERVAL_MS) return tooSlow(t, "the next load ended too late");
    assert.equal(again?.lastSeenAt.getTime(), refreshed, "and not again at once");
  });

  it("a throttled load does not extend the idle timer", async (t) => {
    const { target, user, issued } = ctx();
    // Wider margins than `throttled`: idle 0.6 s, refreshed at most every 0.45 s.
    const lazy = tracked(
      createSessionManager({
        store: target.store,
        fields: SCHEMA,
        idleTimeoutSeconds: 0.6,
        absoluteTimeoutSeconds: ABSOLUTE_MS / 1000,
        touchIntervalSeconds: 0.45,
      }),
      issued,
    );
    const { token, session } = await lazy.create(user("throttle-idle"));
    const createdBy = Date.now();
    const created = session.lastSeenAt.getTime();
    await sleep(200);
    const throttledLoad = await lazy.load(token);
    if (Date.now() >= created + 450) return tooSlow(t, "the throttled load ended after the interval");
    assert.equal(throttledLoad?.lastSeenAt.getTime(), created, "loaded, not refreshed");
    // Past the idle deadline set at creation, before the one a refresh at 0.2 s would have set.
    await sleepUntil(createdBy + 600 + MARGIN_MS);
    assert.equal(await lazy.load(token), null, "the idle timer still ran from creation");
  });

  it("a throttled session slides when loaded after each touch interval", async (t) => {
    const { throttled, user } = ctx();
    const { token, session } = await throttled.create(user("throttle-slide"));
    let refreshedAt = session.lastSeenAt.getTime();
    for (let i = 1; i <= 3; i++) {
      await sleep(TOUCH_INTERVAL_MS + 50);
      const loaded = await throttled.load(token);
      if (Date.now() >= refreshedAt + IDLE_MS) return tooSlow(t, `load ${i} ended after the idle deadline`);
      assert.ok(loaded, `load ${i} found the session`);
      assert.ok(loaded.lastSeenAt.getTime() > refreshedAt, `load ${i} was due and refreshed`);
      refreshedAt = loaded.lastSeenAt.getTime();
    }
  });

  it("a write after idle expiry answers false or null and does not resurrect the session", async () => {
    const { short, user, target } = ctx();
    const userId = user("expired-write");
    const { token } = await short.create(userId, { data: { visits: 1 } });
    await sleepUntil(Date.now() + IDLE_MS + MARGIN_MS);
    assert.equal(await short.set(token, { name: "ghost" }), false);
    assert.equal(await short.unset(token, ["visits"]), false);
    assert.equal(await short.increment(token, "visits"), null);
    assert.equal(await short.rotate(token), null);
    assert.equal(await short.load(token, { increment: { visits: 1 } }), null);
    assert.equal(await short.load(token), null);
    if (userIndex) assert.deepEqual(await short.listForUser(userId), []);
    assert.equal(await short.destroy(token), false);
    await assertNotStored(target, sessionIdOf(token), "an expired session's id, after its user was listed");
  });

  it("listForUser lists only live sessions and prunes expired ones", {
    skip: !userIndex && "no user index",
  }, async (t) => {
    const { short, user, target } = ctx();
    const userId = user("prune");
    const kept = await short.create(userId, { userAgent: "kept" });
    const left = await short.create(userId, { userAgent: "left" });
    const leftBy = Date.now();
    await assertStored(target, sessionIdOf(left.token), "a live session's storage id");
    let refreshedAt = kept.session.lastSeenAt.getTime();
    while (Date.now() < leftBy + IDLE_MS + MARGIN_MS) {
      await sleep(150);
      const loaded = await short.load(kept.token);
      if (Date.now() >= refreshedAt + IDLE_MS) return tooSlow(t, "a load ended after the idle deadline");
      assert.ok(loaded);
      refreshedAt = loaded.lastSeenAt.getTime();
    }
    const listed = await short.listForUser(userId);
    if (Date.now() >= refreshedAt + IDLE_MS) return tooSlow(t, "the listing ended after the idle deadline");
    assert.deepEqual(
      listed.map((s) => s.id),
      [kept.session.id],
    );
    assert.equal(listed[0]?.userAgent, "kept");
    await assertNotStored(target, sessionIdOf(left.token), "a pruned session's id");
  });
}
