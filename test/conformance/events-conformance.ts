import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { it } from "node:test";
import { CHANNELS, type SessionEvent } from "../../src/core/session-events.js";
import { createSessionManager } from "../../src/core/session-manager.js";
import { storageIdOf } from "../../src/core/token.js";
import { type Context, SCHEMA } from "./conformance-context.js";

/**
 * The manager's lifecycle events over this store: what `onEvent` gets through a whole lifecycle, and
 * that no payload on any channel carries a token or a storage id.
 */
export function eventTests(ctx: () => Context): void {
  it("reports each lifecycle step by public id, never by token or storage id", async () => {
    const { target, user, clock } = ctx();
    const sleep = (ms: number) => clock.sleep(ms);
    const events: SessionEvent[] = [];
    const published: unknown[] = [];
    const listener = (message: unknown): void => {
      published.push(message);
    };
    for (const name of Object.values(CHANNELS)) subscribe(name, listener);
    const tokens: string[] = [];
    try {
      const sessions = createSessionManager({
        store: target.store,
        fields: SCHEMA,
        maxSessionsPerUser: 2,
        clock: () => clock.now(),
        onEvent: (event) => events.push(event),
      });
      const userId = user("events");
      const anonymous = await sessions.createAnonymous();
      const login = await sessions.promote(anonymous.token, userId);
      const rotated = await sessions.rotate(login.token);
      assert.ok(rotated);
      tokens.push(anonymous.token, login.token, rotated.token);
      assert.ok(await sessions.load(rotated.token, { increment: { visits: 1 } }));
      assert.equal(await sessions.load(login.token), null);
      assert.equal(await sessions.load("not a token"), null);
      await sleep(2); // distinct creation times: "oldest" is well defined
      const second = await sessions.create(userId);
      await sleep(2);
      const third = await sessions.create(userId); // over the cap of 2: the rotated session ends
      await sleep(2);
      const fourth = await sessions.create(userId); // then the second, then the third
      await sleep(2);
      const fifth = await sessions.create(userId);
      tokens.push(second.token, third.token, fourth.token, fifth.token);
      assert.equal(await sessions.destroyById(userId, fourth.session.id), true);
      assert.equal(await sessions.destroy(fifth.token), true);
      const sixth = await sessions.create(userId);
      tokens.push(sixth.token);
      assert.equal(await sessions.destroyForUser(userId), 1);

      assert.deepEqual(events, [
        { type: "created", publicId: anonymous.session.id, userId: null },
        {
          type: "promoted",
          publicId: login.session.id,
          userId,
          previousPublicId: anonymous.session.id,
        },
        {
          type: "rotated",
          publicId: rotated.session.id,
          previousPublicId: login.session.id,
          userId,
        },
        { type: "load_missed", reason: "unknown", publicId: login.session.id },
        { type: "load_missed", reason: "malformed", publicId: null },
        { type: "created", publicId: second.session.id, userId },
        { type: "destroyed", reason: "over_cap", publicId: null, userId, count: 1 },
        { type: "created", publicId: third.session.id, userId },
        { type: "destroyed", reason: "over_cap", publicId: null, userId, count: 1 },
        { type: "created", publicId: fourth.session.id, userId },
        { type: "destroyed", reason: "over_cap", publicId: null, userId, count: 1 },
        { type: "created", publicId: fifth.session.id, userId },
        { type: "destroyed", reason: "by_id", publicId: fourth.session.id, userId, count: 1 },
        { type: "destroyed", reason: "logout", publicId: fifth.session.id, userId: null, count: 1 },
        { type: "created", publicId: sixth.session.id, userId },
        { type: "destroyed", reason: "per_user", publicId: null, userId, count: 1 },
      ]);
    } finally {
      for (const name of Object.values(CHANNELS)) unsubscribe(name, listener);
    }
    // Every event went to its channel too (other tests' events may be there as well).
    for (const event of events) assert.ok(published.includes(event), `${event.type} was published`);
    assert.ok(
      published.some((message) => (message as { operation?: string }).operation === "load"),
      "store calls are published with their duration",
    );
    const text = JSON.stringify(published);
    for (const token of tokens) {
      assert.ok(!text.includes(token), "no payload holds a token");
      assert.ok(!text.includes(storageIdOf(token)), "no payload holds a storage id");
    }
  });

  it("reports a session a load finds past its absolute end (a clock ahead of Redis's TTL)", async () => {
    const { target, user, clock } = ctx();
    const events: SessionEvent[] = [];
    let ahead = 0;
    const sessions = createSessionManager({
      store: target.store,
      fields: SCHEMA,
      idleTimeoutSeconds: 60,
      absoluteTimeoutSeconds: 120,
      clock: () => clock.now() + ahead,
      onEvent: (event) => events.push(event),
    });
    const userId = user("expired-at-load");
    const { token, session } = await sessions.create(userId);
    // The store's TTL still has two minutes to run; the manager's clock says the session has ended.
    ahead = 120_000;
    assert.equal(await sessions.load(token), null);
    assert.equal(await sessions.load(token), null);
    assert.deepEqual(events.slice(1), [
      { type: "destroyed", reason: "absolute_expiry", publicId: session.id, userId: null, count: 1 },
      { type: "load_missed", reason: "expired", publicId: session.id },
      { type: "load_missed", reason: "unknown", publicId: session.id },
    ]);
  });
}
