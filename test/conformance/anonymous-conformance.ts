import assert from "node:assert/strict";
import { it } from "node:test";
import { createSessionManager } from "../../src/core/session-manager.js";
import {
  assertNotStored,
  type Context,
  latchkeyError,
  MARGIN_MS,
  SCHEMA,
  storedIdOf,
  tracked,
} from "./conformance-context.js";

/** Sessions before login (anonymous), their promotion at login, and flash messages. */
export function anonymousTests(ctx: () => Context, { userIndex }: { userIndex: boolean }): void {
  it("an anonymous session has no user, its own lifetime, atomic fields, and is in no index", async () => {
    const { steady, user } = ctx();
    const { token, session } = await steady.createAnonymous({ data: { prefs: { theme: "dark" } } });
    assert.equal(session.userId, null);
    assert.equal(session.expiresAt.getTime() - session.createdAt.getTime(), 86_400_000, "a day by default");
    const loaded = await steady.load(token, { increment: { visits: 1 } });
    assert.equal(loaded?.userId, null);
    assert.deepEqual(loaded?.data, { prefs: { theme: "dark" }, visits: 1 });
    const counts = await Promise.all(Array.from({ length: 50 }, () => steady.increment(token, "visits")));
    assert.equal(new Set(counts).size, 50, "every increment saw its own count");
    assert.equal(await steady.set(token, { name: "guest" }), true);
    assert.equal((await steady.rotate(token))?.session.userId, null, "a rotation keeps it anonymous");
    if (userIndex) assert.equal(await steady.destroyForUser(user("nobody")), 0);
  });

  it("promote: the anonymous token dies, the kept fields and flash carry over, the rest does not", async () => {
    const { steady, user, target } = ctx();
    const userId = user("promote");
    const anonymous = await steady.createAnonymous({
      data: { prefs: { language: "pt" }, name: "oauth-verifier" },
    });
    assert.equal(await steady.flash(anonymous.token, "notice", "Welcome back"), true);
    const promoted = await steady.promote(anonymous.token, userId, { keep: ["prefs"], data: { visits: 7 } });
    assert.notEqual(promoted.token, anonymous.token);
    assert.equal(await steady.load(anonymous.token), null, "the pre-login token is dead");
    const loaded = await steady.load(promoted.token, { takeFlash: true });
    assert.equal(loaded?.userId, userId);
    assert.deepEqual(loaded?.data, { prefs: { language: "pt" }, visits: 7 }, "prefs kept, the verifier not");
    assert.deepEqual(loaded?.flash, { notice: "Welcome back" });
    assert.equal(loaded?.expiresAt.getTime(), (loaded?.createdAt.getTime() ?? 0) + 120_000, "user lifetime");
    if (userIndex)
      assert.deepEqual(
        (await steady.listForUser(userId)).map((s) => s.id),
        [promoted.session.id],
      );
    await assertNotStored(target, storedIdOf(anonymous.token), "the promoted anonymous session's id");
  });

  it("promote from another user's session, or from none, carries nothing", async () => {
    const { steady, user } = ctx();
    const other = await steady.create(user("promote-other"), { data: { prefs: { secret: true } } });
    const fresh = await steady.promote(other.token, user("promote-me"), { keep: ["prefs"] });
    assert.deepEqual(fresh.session.data, {}, "nothing of another user's session");
    assert.equal(await steady.load(other.token), null, "the browser's previous session ended all the same");
    const none = await steady.promote(undefined, user("promote-none"), { data: { visits: 1 } });
    assert.deepEqual((await steady.load(none.token))?.data, { visits: 1 });
  });

  it("20 concurrent promotions of one anonymous session: exactly one carries its fields", async () => {
    const { steady, user } = ctx();
    const anonymous = await steady.createAnonymous({ data: { prefs: { cart: [1, 2] } } });
    const promoted = await Promise.all(
      Array.from({ length: 20 }, () =>
        steady.promote(anonymous.token, user("promote-race"), { keep: ["prefs"] }),
      ),
    );
    const carried = promoted.filter((p) => p.session.data.prefs !== undefined);
    assert.equal(carried.length, 1);
    assert.equal(await steady.load(anonymous.token), null);
  });

  it("a flash message is delivered exactly once: concurrent takes get it once between them", async () => {
    const { steady, user } = ctx();
    const { token } = await steady.create(user("flash"));
    assert.equal(await steady.flash(token, "notice", "Password changed"), true);
    assert.deepEqual((await steady.load(token))?.flash, {}, "a load that does not ask neither sees it");
    const taken = await Promise.all(
      Array.from({ length: 20 }, () => steady.load(token, { takeFlash: true })),
    );
    const delivered = taken.filter((s) => s?.flash.notice === "Password changed");
    assert.equal(delivered.length, 1, "nor removes it: exactly one of 20 concurrent takes gets it");
    assert.deepEqual((await steady.load(token, { takeFlash: true }))?.flash, {}, "and it is gone");
    // A second message with the same name replaces the first; another name stands beside it.
    await steady.flash(token, "notice", "one");
    await steady.flash(token, "notice", "two");
    await steady.flash(token, "error", "three");
    assert.deepEqual((await steady.load(token, { takeFlash: true }))?.flash, {
      notice: "two",
      error: "three",
    });
  });

  it("authenticatedAt: set at create and promote, refreshed by reauthenticate, kept by a rotation, none when anonymous", async () => {
    const { steady, user, clock } = ctx();
    const userId = user("reauth");
    const created = await steady.create(userId);
    assert.equal(created.session.authenticatedAt?.getTime(), created.session.createdAt.getTime());
    assert.equal(
      (await steady.load(created.token))?.authenticatedAt?.getTime(),
      created.session.createdAt.getTime(),
    );
    await clock.sleep(50);
    const before = clock.now();
    assert.equal(await steady.reauthenticate(created.token), true);
    const after = clock.now();
    const refreshed = (await steady.load(created.token))?.authenticatedAt?.getTime() ?? 0;
    assert.ok(refreshed >= before && refreshed <= after, `${refreshed} within [${before}, ${after}]`);
    assert.ok(refreshed > created.session.createdAt.getTime());
    const rotated = await steady.rotate(created.token);
    assert.equal(rotated?.session.authenticatedAt?.getTime(), refreshed, "a rotation keeps it");
    assert.equal((await steady.load(rotated?.token))?.authenticatedAt?.getTime(), refreshed);
    if (userIndex) {
      const listed = (await steady.listForUser(userId)).find((s) => s.id === rotated?.session.id);
      assert.equal(listed?.authenticatedAt?.getTime(), refreshed);
    }
    // Anonymous: nobody proved anything; a promotion is a login, so it starts again at its own time.
    const anonymous = await steady.createAnonymous();
    assert.equal(anonymous.session.authenticatedAt, null);
    assert.equal((await steady.load(anonymous.token))?.authenticatedAt, null);
    await clock.sleep(50);
    const promoted = await steady.promote(anonymous.token, user("reauth-promoted"));
    assert.equal(promoted.session.authenticatedAt?.getTime(), promoted.session.createdAt.getTime());
    // A dead or malformed token: false, and nothing brought back.
    assert.equal(await steady.destroy(rotated?.token as string), true);
    assert.equal(await steady.reauthenticate(rotated?.token as string), false);
    assert.equal(await steady.load(rotated?.token), null, "no session resurrected");
    assert.equal(await steady.reauthenticate("not-a-token"), false);
  });

  it("flash messages count toward maxSessionBytes with the fields: queued messages cannot grow a session without bound", async () => {
    const { target, user, issued } = ctx();
    const limited = tracked(
      createSessionManager({ store: target.store, fields: SCHEMA, maxSessionBytes: 1000 }),
      issued,
    );
    const { token } = await limited.create(user("flash-budget"));
    // Each message is 3 + 300 bytes (name and text): three fit in 1000, a fourth does not.
    const queued: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      queued.push(await limited.flash(token, `m${i}:`, "v".repeat(300)).catch(() => false));
    }
    assert.deepEqual(queued, [true, true, true, false, false, false]);
    await assert.rejects(limited.flash(token, "m9:", "v".repeat(300)), latchkeyError("INVALID_ARGUMENT"));
    assert.equal(await limited.flash(token, "m0:", "w".repeat(300)), true, "replacing one counts it once");
    // The fields and the messages share the budget: 909 bytes of messages leave no room for 100 more.
    await assert.rejects(limited.set(token, { name: "n".repeat(100) }), latchkeyError("INVALID_ARGUMENT"));
    const taken = await limited.load(token, { takeFlash: true });
    assert.deepEqual(Object.keys(taken?.flash ?? {}).sort(), ["m0:", "m1:", "m2:"]);
    assert.equal(taken?.flash["m0:"], "w".repeat(300));
    // Taken, they no longer count.
    assert.equal(await limited.set(token, { name: "n".repeat(100) }), true);
    assert.equal(await limited.flash(token, "notice", "v".repeat(300)), true);
  });

  it("a flash message survives a rotation, and lives on anonymous sessions", async () => {
    const { steady } = ctx();
    const { token } = await steady.createAnonymous();
    await steady.flash(token, "notice", "You have logged out.");
    const rotated = await steady.rotate(token);
    assert.ok(rotated);
    assert.deepEqual((await steady.load(rotated.token, { takeFlash: true }))?.flash, {
      notice: "You have logged out.",
    });
    assert.equal(await steady.flash("not-a-token", "notice", "x"), false);
  });

  it("an anonymous session ends after its own idle timeout, a user's session on the same manager lives on", async () => {
    const { target, user, issued, clock } = ctx();
    const lifetimes = tracked(
      createSessionManager({
        store: target.store,
        fields: SCHEMA,
        idleTimeoutSeconds: 60,
        absoluteTimeoutSeconds: 120,
        anonymousIdleTimeoutSeconds: 2,
        anonymousAbsoluteTimeoutSeconds: 10,
        clock: () => clock.now(),
      }),
      issued,
    );
    const anonymous = await lifetimes.createAnonymous();
    const signedIn = await lifetimes.create(user("anonymous-idle"));
    await clock.sleep(1000);
    assert.ok(await lifetimes.load(anonymous.token), "alive 1 s later (and refreshed for 2 s more)");
    await clock.sleep(2000 + MARGIN_MS);
    assert.equal(await lifetimes.load(anonymous.token), null, "ended 2 s after its last view");
    assert.ok(await lifetimes.load(signedIn.token), "the signed-in session lives on");
  });

  it("per-session lifetimes (remember me) and browser-session cookies are kept with the session", async () => {
    const { steady, user } = ctx();
    const month = 30 * 86_400;
    const remembered = await steady.create(user("remember"), {
      absoluteTimeoutSeconds: month,
      idleTimeoutSeconds: month,
    });
    const { createdAt, expiresAt, idleExpiresAt } = remembered.session;
    assert.equal(expiresAt.getTime() - createdAt.getTime(), month * 1000, "its own absolute lifetime");
    assert.equal(idleExpiresAt.getTime(), expiresAt.getTime(), "its own idle timeout, capped by it");
    assert.equal(remembered.session.browserSession, false);
    const loaded = await steady.load(remembered.token);
    assert.equal(
      loaded?.idleExpiresAt.getTime(),
      loaded?.expiresAt.getTime(),
      "a view refreshes by its own idle",
    );

    const forgotten = await steady.create(user("browser-session"), { browserSession: true });
    assert.equal(forgotten.session.browserSession, true);
    assert.equal(forgotten.session.idleExpiresAt.getTime() - forgotten.session.lastSeenAt.getTime(), 60_000);
    const rotated = await steady.rotate(forgotten.token);
    assert.equal(rotated?.session.browserSession, true, "a rotation keeps the cookie kind");
    assert.equal((await steady.load(rotated?.token))?.browserSession, true);

    for (const bad of [
      { absoluteTimeoutSeconds: 91 * 86_400 },
      { idleTimeoutSeconds: 0.5 },
      { absoluteTimeoutSeconds: -1 },
    ]) {
      await assert.rejects(
        steady.create(user("too-long"), bad),
        latchkeyError("INVALID_ARGUMENT"),
        JSON.stringify(bad),
      );
    }
  });

  it("a session's own idle timeout ends it, whatever the manager's", async () => {
    const { steady, user, clock } = ctx();
    const short = await steady.create(user("own-idle"), { idleTimeoutSeconds: 2 });
    const long = await steady.create(user("own-idle-other"));
    await clock.sleep(2000 + MARGIN_MS);
    assert.equal(await steady.load(short.token), null, "its own 2 s idle timeout ended it");
    assert.ok(await steady.load(long.token), "the manager's 60 s one keeps the other");
  });
}
