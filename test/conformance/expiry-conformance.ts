import assert from "node:assert/strict";
import { it } from "node:test";
import { createSessionManager } from "../../src/core/session-manager.js";
import {
  ABSOLUTE_MS,
  assertInTime,
  assertNotStored,
  assertStored,
  type Context,
  IDLE_MS,
  MARGIN_MS,
  SCHEMA,
  sleepUntil,
  storedIdOf,
  TOUCH_INTERVAL_MS,
  tracked,
} from "./conformance-context.js";

/**
 * Idle, absolute and throttled expiry (idle 2 s, absolute 5 s, touch interval 1 s: the shortest whole
 * seconds the manager accepts). On the memory store they run on a virtual clock and never sleep; on
 * Redis they wait on real time, concurrently (their own users and sessions), about 5 s in all.
 *
 * A "must be gone" check runs after sleeping past the latest possible deadline, which is always sound.
 * A "must still be alive" check is sound only when the step really ended before the deadline:
 * `assertInTime` checks that, and fails (never skips) if the machine stalled that long, so a sliding-
 * expiry regression cannot hide behind a slow CI. The margins are a second or more.
 */
export function expiryTests(ctx: () => Context, { userIndex }: { userIndex: boolean }): void {
  it("ends a session left idle past the idle timeout", async () => {
    const { short, user, clock } = ctx();
    const userId = user("idle");
    const { token } = await short.create(userId);
    await clock.sleep(IDLE_MS + MARGIN_MS);
    assert.equal(await short.load(token), null);
    if (userIndex) assert.deepEqual(await short.listForUser(userId), []);
  });

  it("keeps a session in use alive past the idle timeout (sliding)", async () => {
    const { short, user, clock } = ctx();
    const { token, session } = await short.create(user("sliding"));
    let refreshedAt = session.lastSeenAt.getTime();
    // 5 × 0.6 s: one and a half idle timeouts, inside the absolute lifetime.
    for (let i = 1; i <= 5; i++) {
      await clock.sleep(600);
      const loaded = await short.load(token);
      assertInTime(clock, refreshedAt + IDLE_MS, `load ${i}`);
      assert.ok(loaded, `load ${i} found the session`);
      assert.ok(loaded.lastSeenAt.getTime() > refreshedAt, "every load refreshes lastSeenAt");
      refreshedAt = loaded.lastSeenAt.getTime();
    }
    assert.ok(refreshedAt - session.createdAt.getTime() > IDLE_MS, "the session outlived one idle timeout");
  });

  it("ends a session at its absolute expiry despite constant activity", async () => {
    const { short, user, clock } = ctx();
    const userId = user("absolute");
    const { token, session } = await short.create(userId);
    const expiresAt = session.expiresAt.getTime();
    assert.equal(expiresAt, session.createdAt.getTime() + ABSOLUTE_MS);
    let refreshedAt = session.lastSeenAt.getTime();
    while (clock.now() < expiresAt - 700) {
      const loaded = await short.load(token);
      assertInTime(clock, refreshedAt + IDLE_MS, "a load before the absolute expiry");
      assert.ok(loaded, `a load ${expiresAt - clock.now()} ms before the absolute expiry found the session`);
      assert.equal(loaded.expiresAt.getTime(), expiresAt, "activity never moves expiresAt");
      refreshedAt = loaded.lastSeenAt.getTime();
      await clock.sleep(500);
    }
    // The last refresh would keep an uncapped idle timer running well past this point.
    await sleepUntil(expiresAt + MARGIN_MS, clock);
    assert.equal(await short.load(token), null, "the last refresh did not outlive expiresAt");
    if (userIndex) assert.deepEqual(await short.listForUser(userId), []);
  });

  it("refreshes the idle timer at most once per touch interval", async () => {
    const { throttled, user, clock } = ctx();
    const { token, session } = await throttled.create(user("throttle"));
    const created = session.lastSeenAt.getTime();
    for (const label of ["too soon to refresh", "still too soon"]) {
      await clock.sleep(200);
      const loaded = await throttled.load(token);
      assertInTime(clock, created + TOUCH_INTERVAL_MS, label);
      assert.equal(loaded?.lastSeenAt.getTime(), created, label);
    }
    await sleepUntil(created + TOUCH_INTERVAL_MS + 50, clock);
    const due = await throttled.load(token);
    assertInTime(clock, created + IDLE_MS, "the due load");
    const refreshed = due?.lastSeenAt.getTime();
    assert.ok(refreshed !== undefined && refreshed >= created + TOUCH_INTERVAL_MS, "refreshed once due");
    const again = await throttled.load(token);
    assertInTime(clock, refreshed + TOUCH_INTERVAL_MS, "the next load");
    assert.equal(again?.lastSeenAt.getTime(), refreshed, "and not again at once");
  });

  it("a throttled load does not extend the idle timer", async () => {
    const { target, user, issued, clock } = ctx();
    // Wider margins than `throttled`: idle 3 s, refreshed at most every 2 s.
    const lazy = tracked(
      createSessionManager({
        store: target.store,
        fields: SCHEMA,
        idleTimeoutSeconds: 3,
        absoluteTimeoutSeconds: ABSOLUTE_MS / 1000,
        touchIntervalSeconds: 2,
        clock: () => clock.now(),
      }),
      issued,
    );
    const { token, session } = await lazy.create(user("throttle-idle"));
    const createdBy = clock.now();
    const created = session.lastSeenAt.getTime();
    await clock.sleep(1000);
    const throttledLoad = await lazy.load(token);
    assertInTime(clock, created + 2000, "the throttled load");
    assert.equal(throttledLoad?.lastSeenAt.getTime(), created, "loaded, not refreshed");
    // Past the idle deadline set at creation, before the one a refresh at 1 s would have set.
    await sleepUntil(createdBy + 3000 + MARGIN_MS, clock);
    assert.equal(await lazy.load(token), null, "the idle timer still ran from creation");
  });

  it("a throttled session slides when loaded after each touch interval", async () => {
    const { throttled, user, clock } = ctx();
    const { token, session } = await throttled.create(user("throttle-slide"));
    let refreshedAt = session.lastSeenAt.getTime();
    for (let i = 1; i <= 3; i++) {
      await clock.sleep(TOUCH_INTERVAL_MS + 100);
      const loaded = await throttled.load(token);
      assertInTime(clock, refreshedAt + IDLE_MS, `load ${i}`);
      assert.ok(loaded, `load ${i} found the session`);
      assert.ok(loaded.lastSeenAt.getTime() > refreshedAt, `load ${i} was due and refreshed`);
      refreshedAt = loaded.lastSeenAt.getTime();
    }
  });

  it("a write after idle expiry answers false or null and does not resurrect the session", async () => {
    const { short, user, target, clock } = ctx();
    const userId = user("expired-write");
    const { token } = await short.create(userId, { data: { visits: 1 } });
    await clock.sleep(IDLE_MS + MARGIN_MS);
    assert.equal(await short.set(token, { name: "ghost" }), false);
    assert.equal(await short.unset(token, ["visits"]), false);
    assert.equal(await short.increment(token, "visits"), null);
    assert.equal(await short.rotate(token), null);
    assert.equal(await short.load(token, { increment: { visits: 1 } }), null);
    assert.equal(await short.load(token), null);
    if (userIndex) assert.deepEqual(await short.listForUser(userId), []);
    assert.equal(await short.destroy(token), false);
    await assertNotStored(target, storedIdOf(token), "an expired session's id, after its user was listed");
  });

  // Without a per-user index there is no listing to prune (user-conformance.ts covers that case).
  if (!userIndex) return;
  it("listForUser lists only live sessions and prunes expired ones", async () => {
    const { short, user, target, clock } = ctx();
    const userId = user("prune");
    const kept = await short.create(userId, { userAgent: "kept" });
    const left = await short.create(userId, { userAgent: "left" });
    const leftBy = clock.now();
    await assertStored(target, storedIdOf(left.token), "a live session's storage id");
    let refreshedAt = kept.session.lastSeenAt.getTime();
    while (clock.now() < leftBy + IDLE_MS + MARGIN_MS) {
      await clock.sleep(600);
      const loaded = await short.load(kept.token);
      assertInTime(clock, refreshedAt + IDLE_MS, "a load of the kept session");
      assert.ok(loaded);
      refreshedAt = loaded.lastSeenAt.getTime();
    }
    const listed = await short.listForUser(userId);
    assertInTime(clock, refreshedAt + IDLE_MS, "the listing");
    assert.deepEqual(
      listed.map((s) => s.id),
      [kept.session.id],
    );
    assert.equal(listed[0]?.userAgent, "kept");
    await assertNotStored(target, storedIdOf(left.token), "a pruned session's id");
  });
}
