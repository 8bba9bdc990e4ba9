import assert from "node:assert/strict";
import { it } from "node:test";
import { decryptValue, fieldKeyOf } from "../../src/core/field-encryption.js";
import type { SessionEvent } from "../../src/core/session-events.js";
import {
  type CreatedSession,
  createSessionManager,
  type SessionManager,
  type SessionManagerOptions,
} from "../../src/core/session-manager.js";
import { isForwarded, type StoredSession } from "../../src/core/session-store.js";
import { storageIdOf } from "../../src/core/token.js";
import {
  assertNotStored,
  type Context,
  latchkeyError,
  SCHEMA,
  type Schema,
  tracked,
} from "./conformance-context.js";

const RENEW_AFTER_SECONDS = 2;
const GRACE_SECONDS = 1;
/** How far ahead of the suite's clock a renewing manager runs once a token should be due. */
const DUE_MS = RENEW_AFTER_SECONDS * 1000 + 500;

/** A renewing manager on the suite's clock, `ahead` ms in front of it (set `ahead = DUE_MS` to make tokens due). */
interface Renewing {
  sessions: SessionManager<Schema>;
  ahead: number;
  events: SessionEvent[];
  /** Every token handed to `onRenew`, in order. */
  renewed: string[];
  /** A load that can take a new token, as an adapter's is. */
  load(
    token: string | undefined,
    increment?: number,
    takeFlash?: boolean,
  ): ReturnType<SessionManager<Schema>["load"]>;
}

/**
 * Token renewal (`renewAfterSeconds`, `renewGraceSeconds`): a session's token is replaced once it is that
 * old, atomically on every store, and requests in flight with the old one reach the same successor.
 */
export function renewalTests(ctx: () => Context, { userIndex }: { userIndex: boolean }): void {
  const renewing = (extra: Partial<SessionManagerOptions<Schema>> = {}): Renewing => {
    const { target, clock, issued } = ctx();
    const state: Renewing = {
      ahead: 0,
      events: [],
      renewed: [],
      sessions: undefined as unknown as SessionManager<Schema>,
      load(token, increment, takeFlash) {
        const onRenew = (created: CreatedSession<Schema>) => {
          state.renewed.push(created.token);
          issued.add(created.token);
        };
        return state.sessions.load(token, {
          onRenew,
          ...(increment === undefined ? {} : { increment: { visits: increment } }),
          ...(takeFlash ? { takeFlash } : {}),
        });
      },
    };
    state.sessions = tracked(
      createSessionManager({
        store: target.store,
        fields: SCHEMA,
        clock: () => clock.now() + state.ahead,
        idleTimeoutSeconds: 60,
        absoluteTimeoutSeconds: 120,
        renewAfterSeconds: RENEW_AFTER_SECONDS,
        renewGraceSeconds: GRACE_SECONDS,
        onEvent: (event) => state.events.push(event),
        ...extra,
      }),
      issued,
    );
    return state;
  };
  const raw = async (storageId: string): Promise<StoredSession | null> => {
    const now = ctx().clock.now() + DUE_MS;
    const found = await ctx().target.store.load(storageId, {
      now,
      idleTimeoutMs: 60_000,
      touchIntervalMs: 0,
    });
    assert.ok(!isForwarded(found), "a session, not a forward");
    return typeof found === "object" ? found : null;
  };

  it("renews a token once it is renewAfterSeconds old, keeping data, lifetimes, authenticatedAt and the index", async () => {
    const r = renewing();
    const userId = ctx().user("renew");
    const { token, session } = await r.sessions.create(userId, { data: { name: "ada", visits: 1 } });
    assert.equal((await r.load(token, 1))?.id, session.id, "a young token is kept");
    assert.equal(r.renewed.length, 0);

    r.ahead = DUE_MS;
    assert.equal((await r.sessions.load(token))?.id, session.id, "a load without onRenew never renews");
    const renewedSession = await r.load(token, 1);
    assert.equal(r.renewed.length, 1, "onRenew was called before the load resolved");
    const successor = r.renewed[0] as string;
    assert.notEqual(successor, token);
    assert.ok(renewedSession);
    assert.equal(renewedSession.id, r.sessions.publicIdOf(successor), "the answer is the successor's");
    assert.deepEqual(
      renewedSession.data,
      { name: "ada", visits: 3 },
      "data and this load's increment carried over",
    );
    assert.equal(renewedSession.createdAt.getTime(), session.createdAt.getTime());
    assert.equal(renewedSession.expiresAt.getTime(), session.expiresAt.getTime(), "no lifetime extended");
    assert.equal(renewedSession.authenticatedAt?.getTime(), session.createdAt.getTime());
    assert.equal(renewedSession.userId, userId);

    const again = await r.load(successor, 1);
    assert.equal(r.renewed.length, 1, "the successor is young: not renewed again");
    assert.equal(again?.data.visits, 4);
    if (userIndex) {
      const listed = (await r.sessions.listForUser(userId)).map((s) => s.id);
      assert.deepEqual(listed, [renewedSession.id], "the index holds the successor, not the old session");
    }
    const renewedEvents = r.events.filter((e) => e.type === "renewed");
    assert.deepEqual(renewedEvents, [
      { type: "renewed", publicId: renewedSession.id, previousPublicId: session.id, userId },
    ]);
  });

  it("gives every request in flight with the old token the same successor, and loses none of their increments", async () => {
    const r = renewing();
    const userId = ctx().user("renew-race");
    const { token } = await r.sessions.create(userId, { data: { visits: 0 } });
    r.ahead = DUE_MS;
    const loaded = await Promise.all(Array.from({ length: 20 }, () => r.load(token, 1)));
    const ids = new Set(loaded.map((s) => s?.id));
    assert.equal(ids.size, 1, `one successor for all: ${[...ids].join(", ")}`);
    assert.ok(!ids.has(undefined), "no request found the session gone");
    assert.equal(new Set(r.renewed).size, 1, "every onRenew got the same token");
    assert.equal(r.renewed.length, 20, "each request was told");
    assert.equal(r.events.filter((e) => e.type === "renewed").length, 1, "renewed once");
    const counts = loaded.map((s) => s?.data.visits).sort((a, b) => (a as number) - (b as number));
    assert.equal(Math.max(...(counts as number[])), 20, "no increment lost");
    assert.equal((await r.load(r.renewed[0], 0))?.data.visits, 20);
    if (userIndex) assert.equal((await r.sessions.listForUser(userId)).length, 1, "never a second session");
  });

  it("keeps the old token working for writes during the grace period, then it is dead", async () => {
    const r = renewing();
    const { token } = await r.sessions.create(ctx().user("renew-grace"), { data: { visits: 0 } });
    r.ahead = DUE_MS;
    await r.load(token);
    const successor = r.renewed[0] as string;
    assert.equal(
      await r.sessions.set(token, { name: "late write" }),
      true,
      "a write with the old token lands",
    );
    assert.equal(await r.sessions.increment(token, "visits"), 1);
    assert.equal(await r.sessions.flash(token, "notice", "saved"), true);
    assert.equal(await r.sessions.reauthenticate(token), true);
    const seen = await r.load(successor, undefined, true);
    assert.deepEqual(seen?.data, { name: "late write", visits: 1 });
    assert.deepEqual(seen?.flash, { notice: "saved" });

    await ctx().clock.sleep(GRACE_SECONDS * 1000 + 200);
    assert.equal(await r.load(token), null, "after the grace period the old token is dead");
    assert.equal(await r.sessions.set(token, { name: "too late" }), false);
    assert.equal(await r.sessions.destroy(token), false);
    assert.equal((await r.load(successor))?.data.name, "late write", "the successor lives on");
  });

  it("logs out, rotates and revokes through a token renewed moments ago", async () => {
    const r = renewing();
    const userId = ctx().user("renew-logout");
    const first = await r.sessions.create(userId);
    r.ahead = DUE_MS;
    await r.load(first.token);
    const successor = r.renewed[0] as string;
    assert.equal(await r.sessions.destroy(first.token), true, "a logout with the old token ends the session");
    assert.equal(await r.load(successor), null);
    assert.equal(await r.load(first.token), null);

    r.ahead = 0;
    const second = await r.sessions.create(userId);
    r.ahead = DUE_MS;
    await r.load(second.token);
    const secondSuccessor = r.renewed[1] as string;
    const rotated = await r.sessions.rotate(second.token);
    assert.ok(rotated, "a rotation with the old token rotates the successor");
    assert.equal(await r.load(secondSuccessor), null, "the successor's token died with the rotation");
    assert.ok(await r.load(rotated.token));

    if (userIndex) {
      r.ahead = 0;
      const third = await r.sessions.create(userId);
      r.ahead = DUE_MS;
      await r.load(third.token);
      assert.ok((await r.sessions.destroyForUser(userId)) >= 1);
      assert.equal(await r.load(third.token), null, "revoked: the forward leads nowhere");
      assert.equal(await r.load(r.renewed[2]), null);
    }
  });

  it("keeps the successor's token from the store: only the old token opens the forward", async () => {
    const r = renewing();
    const { token } = await r.sessions.create(ctx().user("renew-sealed"));
    r.ahead = DUE_MS;
    await r.load(token);
    const successor = r.renewed[0] as string;
    const forward = await ctx().target.store.load(storageIdOf(token), {
      now: ctx().clock.now() + r.ahead,
      idleTimeoutMs: 60_000,
      touchIntervalMs: 0,
    });
    assert.ok(isForwarded(forward), "the old id forwards");
    assert.equal(forward.forwardedTo, storageIdOf(successor));
    assert.ok(!forward.sealedToken.includes(successor));
    assert.equal(decryptValue(fieldKeyOf(successor), "$renewed-token", forward.sealedToken), undefined);
    await assertNotStored(ctx().target, [token, successor], "a token, old or renewed");
  });

  it("renews anonymous sessions, delivers a flash taken by the renewing load once, and re-encrypts encrypted fields", async () => {
    const r = renewing({ encryptFields: ["name"] });
    const anonymous = await r.sessions.createAnonymous({ data: { name: "secret cart" } });
    await r.sessions.flash(anonymous.token, "hello", "once");
    r.ahead = DUE_MS;
    const renewed = await r.load(anonymous.token, undefined, true);
    assert.equal(renewed?.userId, null, "still anonymous");
    assert.deepEqual(renewed?.flash, { hello: "once" });
    assert.equal(renewed?.data.name, "secret cart");
    const successor = r.renewed[0] as string;
    assert.deepEqual((await r.load(successor, undefined, true))?.flash, {}, "delivered once");
    const stored = await raw(storageIdOf(successor));
    const sealed = stored?.fields.name as string;
    assert.notEqual(sealed, "secret cart");
    assert.equal(
      decryptValue(fieldKeyOf(successor), "name", sealed),
      "secret cart",
      "under the new token's key",
    );
    assert.equal(decryptValue(fieldKeyOf(anonymous.token), "name", sealed), undefined, "not the old one's");
  });

  it("checks its options", () => {
    const { store } = ctx().target;
    const make = (options: Partial<SessionManagerOptions<Schema>>) => () =>
      createSessionManager({ store, fields: SCHEMA, ...options });
    assert.throws(make({ renewAfterSeconds: 60, renewGraceSeconds: 60 }), latchkeyError("INVALID_OPTION"));
    assert.throws(make({ renewAfterSeconds: -1 }), latchkeyError("INVALID_OPTION"));
    assert.throws(make({ renewAfterSeconds: 1.5 }), latchkeyError("INVALID_OPTION"));
    assert.throws(make({ renewAfterSeconds: 600, renewGraceSeconds: 0 }), latchkeyError("INVALID_OPTION"));
    assert.equal(make({})().renewAfterSeconds, 0, "off by default");
    assert.equal(make({ renewAfterSeconds: 900 })().renewAfterSeconds, 900);
  });
}
