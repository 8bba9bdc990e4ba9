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
  SCHEMA,
  TOUCH_INTERVAL_MS,
  tracked,
} from "./conformance-context.js";

/** Past the idle timeout by a margin that absorbs scheduling jitter. */
const PAST_IDLE_MS = IDLE_MS + 200;

/**
 * Idle, absolute and throttled expiry. These tests wait on real time (idle 0.4 s, absolute 1.2 s); they
 * use their own users and sessions, so they run concurrently and the group takes about 1.3 s.
 */
export function expiryTests(ctx: () => Context): void {
  it("ends a session left idle past the idle timeout", async () => {
    const { short, user } = ctx();
    const userId = user("idle");
    const { token } = await short.create(userId);
    await sleep(PAST_IDLE_MS);
    assert.equal(await short.load(token), null);
    assert.deepEqual(await short.listForUser(userId), []);
  });

  it("keeps a session in use alive past the idle timeout (sliding)", async () => {
    const { short, user } = ctx();
    const { token, session } = await short.create(user("sliding"));
    let lastSeenAt = session.lastSeenAt.getTime();
    // 5 × 150 ms: almost two idle timeouts, well inside the absolute lifetime.
    for (let i = 0; i < 5; i++) {
      await sleep(150);
      const loaded = await short.load(token);
      assert.ok(loaded, `load ${i + 1} found the session`);
      assert.ok(loaded.lastSeenAt.getTime() > lastSeenAt, "every load refreshes lastSeenAt");
      lastSeenAt = loaded.lastSeenAt.getTime();
    }
    assert.ok(Date.now() - session.createdAt.getTime() > IDLE_MS, "the test outlived one idle timeout");
  });

  it("ends a session at its absolute expiry despite constant activity", async () => {
    const { short, user } = ctx();
    const userId = user("absolute");
    const { token, session } = await short.create(userId);
    const expiresAt = session.expiresAt.getTime();
    assert.equal(expiresAt, session.createdAt.getTime() + ABSOLUTE_MS);
    let loads = 0;
    while (Date.now() < expiresAt - 150) {
      const loaded = await short.load(token);
      assert.ok(loaded, `a load ${expiresAt - Date.now()} ms before the absolute expiry found the session`);
      assert.equal(loaded.expiresAt.getTime(), expiresAt, "activity never moves expiresAt");
      loads += 1;
      await sleep(100);
    }
    assert.ok(loads >= 5, `only ${loads} loads happened`);
    await sleep(expiresAt - Date.now() + 50);
    assert.equal(await short.load(token), null, "the last refresh did not outlive expiresAt");
    assert.deepEqual(await short.listForUser(userId), []);
  });

  it("refreshes the idle timer at most once per touch interval", async () => {
    const { throttled, user } = ctx();
    const { token, session } = await throttled.create(user("throttle"));
    const created = session.lastSeenAt.getTime();
    await sleep(40);
    assert.equal((await throttled.load(token))?.lastSeenAt.getTime(), created, "too soon to refresh");
    await sleep(40);
    assert.equal((await throttled.load(token))?.lastSeenAt.getTime(), created, "still too soon");
    await sleep(TOUCH_INTERVAL_MS + 20);
    const refreshed = (await throttled.load(token))?.lastSeenAt.getTime();
    assert.ok(refreshed !== undefined && refreshed >= created + TOUCH_INTERVAL_MS, "refreshed once due");
    assert.equal((await throttled.load(token))?.lastSeenAt.getTime(), refreshed, "and not again at once");
  });

  it("a throttled load does not extend the idle timer", async () => {
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
    await sleep(200);
    const throttledLoad = await lazy.load(token);
    assert.equal(throttledLoad?.lastSeenAt.getTime(), session.lastSeenAt.getTime(), "loaded, not refreshed");
    // 0.7 s after creation: 0.1 s past the idle deadline set at creation, 0.1 s before the one a refresh
    // at 0.2 s would have set.
    await sleep(session.createdAt.getTime() + 700 - Date.now());
    assert.equal(await lazy.load(token), null, "the idle timer still ran from creation");
  });

  it("a throttled session slides when loaded after each touch interval", async () => {
    const { throttled, user } = ctx();
    const { token } = await throttled.create(user("throttle-slide"));
    for (let i = 0; i < 3; i++) {
      await sleep(TOUCH_INTERVAL_MS + 50);
      assert.ok(await throttled.load(token), `load ${i + 1} found the session`);
    }
  });

  it("a write after idle expiry answers false or null and does not resurrect the session", async () => {
    const { short, user, target } = ctx();
    const userId = user("expired-write");
    const { token } = await short.create(userId, { data: { visits: 1 } });
    await sleep(PAST_IDLE_MS);
    assert.equal(await short.set(token, { name: "ghost" }), false);
    assert.equal(await short.unset(token, ["visits"]), false);
    assert.equal(await short.increment(token, "visits"), null);
    assert.equal(await short.rotate(token), null);
    assert.equal(await short.load(token, { increment: { visits: 1 } }), null);
    assert.equal(await short.load(token), null);
    assert.deepEqual(await short.listForUser(userId), []);
    assert.equal(await short.destroy(token), false);
    await assertNotStored(target, sessionIdOf(token), "an expired session's id, after its user was listed");
  });

  it("listForUser lists only live sessions and prunes expired ones", async () => {
    const { short, user, target } = ctx();
    const userId = user("prune");
    const kept = await short.create(userId, { userAgent: "kept" });
    const left = await short.create(userId, { userAgent: "left" });
    await assertStored(target, sessionIdOf(left.token), "a live session's storage id");
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      assert.ok(await short.load(kept.token));
    }
    const listed = await short.listForUser(userId);
    assert.deepEqual(
      listed.map((s) => s.id),
      [kept.session.id],
    );
    assert.equal(listed[0]?.userAgent, "kept");
    await assertNotStored(target, sessionIdOf(left.token), "a pruned session's id");
  });
}
