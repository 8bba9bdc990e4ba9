import assert from "node:assert/strict";
import { it } from "node:test";
import type { CreatedSession } from "../../src/core/session-manager.js";
import {
  assertNotStored,
  type Context,
  latchkeyError,
  type Schema,
  storedIdOf,
} from "./conformance-context.js";

/** The per-user index: listing, destroying one session by public id, destroying all but one. */
export function userTests(ctx: () => Context): void {
  it("listForUser lists exactly the user's live sessions, oldest first", async () => {
    const { steady, user } = ctx();
    const userId = user("list");
    const otherId = user("list-other");
    const created: CreatedSession<Schema>[] = [];
    for (const agent of ["first", "second", "third"]) {
      created.push(await steady.create(userId, { userAgent: agent, ip: "192.0.2.1", data: { name: agent } }));
    }
    const other = await steady.create(otherId);

    const listed = await steady.listForUser(userId);
    assert.deepEqual(listed.map((s) => s.id).sort(), created.map((c) => c.session.id).sort());
    const createdAts = listed.map((s) => s.createdAt.getTime());
    assert.deepEqual(
      createdAts,
      [...createdAts].sort((a, b) => a - b),
      "oldest first",
    );
    for (const session of listed) {
      const original = created.find((c) => c.session.id === session.id)?.session;
      assert.ok(original);
      assert.equal(session.userId, userId);
      assert.equal(session.userAgent, original.userAgent);
      assert.equal(session.ip, "192.0.2.1");
      assert.deepEqual(session.data, original.data);
    }
    assert.deepEqual(
      (await steady.listForUser(otherId)).map((s) => s.id),
      [other.session.id],
    );
    assert.deepEqual(await steady.listForUser(user("nobody")), []);

    assert.ok(created[1]);
    assert.equal(await steady.destroy(created[1].token), true);
    assert.equal((await steady.listForUser(userId)).length, 2, "a destroyed session leaves the list");
  });

  it("destroyById ends one session of that user only", async () => {
    const { steady, user } = ctx();
    const userId = user("by-id");
    const otherId = user("by-id-other");
    const a = await steady.create(userId);
    const b = await steady.create(userId);
    const c = await steady.create(otherId);

    assert.equal(await steady.destroyById(otherId, a.session.id), false, "not another user's session");
    assert.ok(await steady.load(a.token));
    assert.equal(await steady.destroyById(userId, c.session.id), false);
    assert.ok(await steady.load(c.token));
    assert.equal(await steady.destroyById(userId, ""), false);
    assert.equal(await steady.destroyById(userId, "no-such-session"), false);

    assert.equal(await steady.destroyById(userId, a.session.id), true);
    assert.equal(await steady.load(a.token), null);
    assert.equal(await steady.destroyById(userId, a.session.id), false, "already gone");
    assert.ok(await steady.load(b.token));
    assert.ok(await steady.load(c.token));
  });

  it("destroyForUser ends every session of the user but the excepted one", async () => {
    const { steady, user, target } = ctx();
    const userId = user("everywhere");
    const otherId = user("everywhere-other");
    // Twelve sessions, so that on a Cluster their keys spread over every master.
    const mine: string[] = [];
    for (let i = 0; i < 12; i++) mine.push((await steady.create(userId, { data: { visits: i } })).token);
    const others = [(await steady.create(otherId)).token, (await steady.create(otherId)).token];
    const [kept, ...ended] = mine;
    assert.ok(kept);

    assert.equal(await steady.destroyForUser(userId, { exceptToken: kept }), 11);
    for (const token of ended) assert.equal(await steady.load(token), null);
    assert.equal((await steady.load(kept))?.data.visits, 0, "the excepted session is intact");
    for (const token of others) assert.ok(await steady.load(token), "other users are untouched");
    assert.deepEqual(
      (await steady.listForUser(userId)).map((s) => s.id),
      [steady.publicIdOf(kept)],
    );
    await assertNotStored(target, ended.map(storedIdOf), "an ended session's id");

    assert.equal(await steady.destroyForUser(userId), 1);
    assert.equal(await steady.load(kept), null);
    assert.equal(await steady.destroyForUser(userId), 0);
    assert.deepEqual(await steady.listForUser(userId), []);
    assert.equal((await steady.listForUser(otherId)).length, 2);
  });

  it("destroyForUser with another user's token as the exception ends all of the user's sessions", async () => {
    const { steady, user } = ctx();
    const userId = user("except-foreign");
    const otherId = user("except-foreign-other");
    const mine = [(await steady.create(userId)).token, (await steady.create(userId)).token];
    const foreign = (await steady.create(otherId)).token;
    assert.equal(await steady.destroyForUser(userId, { exceptToken: foreign }), 2);
    for (const token of mine) assert.equal(await steady.load(token), null);
    assert.ok(await steady.load(foreign));
  });
}

/** A store without a per-user index: the three per-user calls fail clearly, and nothing else changes. */
export function withoutUserIndexTests(ctx: () => Context): void {
  it("listForUser, destroyById and destroyForUser fail with UNSUPPORTED and end nothing", async () => {
    const { steady, user } = ctx();
    const userId = user("no-index");
    const first = await steady.create(userId);
    const second = await steady.create(userId);
    await assert.rejects(steady.listForUser(userId), latchkeyError("UNSUPPORTED"));
    await assert.rejects(steady.destroyById(userId, first.session.id), latchkeyError("UNSUPPORTED"));
    await assert.rejects(steady.destroyForUser(userId), latchkeyError("UNSUPPORTED"));
    assert.ok(await steady.load(first.token), "the first session survives");
    assert.ok(await steady.load(second.token), "the second session survives");
    assert.equal(await steady.destroy(first.token), true, "destroy by token still works");
    assert.equal(await steady.load(first.token), null);
  });
}
