import assert from "node:assert/strict";
import { it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createSessionManager } from "../../src/core/session-manager.js";
import type { SessionStore } from "../../src/core/session-store.js";
import { type Context, latchkeyError, SCHEMA, tracked } from "./conformance-context.js";

/** Trials per race: the defect this guards against showed in 199 of 200. */
const TRIALS = 200;

/**
 * Revocation is linearizable: once `destroyForUser` returns, no session of the user that existed, or
 * was being created or rotated when it was called, can load. Each race runs many times, with the
 * competing call issued first, together, or delayed past the revocation on its way to the store.
 */
export function revocationTests(ctx: () => Context): void {
  it(`destroyForUser wins every race with rotate (${TRIALS} trials)`, async () => {
    const { steady, user } = ctx();
    for (let trial = 0; trial < TRIALS; trial++) {
      const userId = user("race-rotate");
      const { token } = await steady.create(userId);
      // Alternate which call is issued first, so that both orders reach the store.
      const rotating = trial % 2 === 0 ? steady.rotate(token) : undefined;
      const ending = steady.destroyForUser(userId);
      const [rotated, ended] = await Promise.all([rotating ?? steady.rotate(token), ending]);
      assert.equal(ended, 1, `trial ${trial}: the session (old or rotated) was ended exactly once`);
      assert.equal(await steady.load(token), null, `trial ${trial}: the old token is dead`);
      if (rotated)
        assert.equal(await steady.load(rotated.token), null, `trial ${trial}: the rotated one too`);
      assert.deepEqual(await steady.listForUser(userId), [], `trial ${trial}: nothing listed`);
    }
  });

  it(`destroyForUser ends a session whose create is in flight (${TRIALS} trials)`, async () => {
    const { steady, user } = ctx();
    for (let trial = 0; trial < TRIALS; trial++) {
      const userId = user("race-create");
      const creating = steady.create(userId).then(
        (created) => ({ created, error: undefined }),
        (error: unknown) => ({ created: undefined, error }),
      );
      const ended = await steady.destroyForUser(userId);
      const { created, error } = await creating;
      if (created) {
        assert.equal(ended, 1, `trial ${trial}: the create ran first and was ended`);
        assert.equal(await steady.load(created.token), null, `trial ${trial}: the created session is dead`);
      } else {
        assert.ok(latchkeyError("REVOKED")(error), `trial ${trial}: a refused create says REVOKED`);
        assert.equal(ended, 0);
      }
      assert.deepEqual(await steady.listForUser(userId), []);
    }
  });

  it("a create that reaches the store after the revocation is refused, and writes nothing", async () => {
    const { target, user, issued } = ctx();
    // The manager stamps the create when it is called; the store sees it 50 ms later, as over a slow
    // network or a busy event loop, after "log out everywhere" has run.
    const slow = tracked(
      createSessionManager({ store: delayed(target.store, "create", 50), fields: SCHEMA }),
      issued,
    );
    const direct = createSessionManager({ store: target.store, fields: SCHEMA });
    for (let trial = 0; trial < 10; trial++) {
      const userId = user("late-create");
      const creating = slow.create(userId).catch((error: unknown) => error);
      assert.equal(await direct.destroyForUser(userId), 0);
      const outcome = await creating;
      assert.ok(latchkeyError("REVOKED")(outcome), `trial ${trial}: refused as REVOKED`);
      assert.deepEqual(await direct.listForUser(userId), [], "nothing was written");
    }
    // A create that begins after the revocation succeeds as usual.
    const userId = user("after-revoke");
    await direct.destroyForUser(userId);
    await sleep(2);
    const created = await slow.create(userId);
    assert.ok(await direct.load(created.token));
  });

  it("a rotation that reaches the store after the revocation finds nothing to rotate", async () => {
    const { target, user, issued } = ctx();
    const slow = tracked(
      createSessionManager({ store: delayed(target.store, "rotate", 50), fields: SCHEMA }),
      issued,
    );
    for (let trial = 0; trial < 10; trial++) {
      const userId = user("late-rotate");
      const { token } = await slow.create(userId);
      const rotating = slow.rotate(token);
      assert.equal(await slow.destroyForUser(userId), 1);
      assert.equal(await rotating, null, `trial ${trial}: nothing left to rotate`);
      assert.equal(await slow.load(token), null);
      assert.deepEqual(await slow.listForUser(userId), []);
    }
  });

  it("destroyById wins every race with a load and a set of the same session", async () => {
    const { steady, user } = ctx();
    for (let trial = 0; trial < 50; trial++) {
      const userId = user("race-by-id");
      const { token, session } = await steady.create(userId);
      const [ended] = await Promise.all([
        steady.destroyById(userId, session.id),
        steady.set(token, { name: "racing" }),
        steady.load(token),
      ]);
      assert.equal(ended, true);
      assert.equal(await steady.load(token), null, `trial ${trial}: the session stays ended`);
    }
  });

  it("maxSessionsPerUser ends the user's oldest sessions, and only theirs", async () => {
    const { target, user, issued } = ctx();
    let endedOverCap = 0;
    const capped = tracked(
      createSessionManager({
        store: target.store,
        fields: SCHEMA,
        maxSessionsPerUser: 3,
        onEvent: (event) => {
          if (event.type === "destroyed" && event.reason === "over_cap") endedOverCap += event.count;
        },
      }),
      issued,
    );
    const userId = user("capped");
    const other = await capped.create(user("capped-other"));
    const tokens: string[] = [];
    for (let i = 0; i < 6; i++) {
      tokens.push((await capped.create(userId, { data: { visits: i } })).token);
      await sleep(2); // distinct creation times, so that "oldest" is well defined
    }
    for (const [i, token] of tokens.entries()) {
      const loaded = await capped.load(token);
      if (i < 3) assert.equal(loaded, null, `session ${i} was among the oldest and ended`);
      else assert.equal(loaded?.data.visits, i, `session ${i} is among the newest three`);
    }
    assert.equal((await capped.listForUser(userId)).length, 3);
    assert.ok(await capped.load(other.token), "another user's session is untouched");
    // 30 concurrent logins still leave exactly the cap.
    await Promise.all(Array.from({ length: 30 }, () => capped.create(userId)));
    assert.equal((await capped.listForUser(userId)).length, 3);
    // The store says how many each create ended (the over_cap events): 3 then 30.
    assert.equal(endedOverCap, 33);
  });
}

/** The store, with one method's calls held back `ms` on their way in (the manager has already run). */
function delayed(store: SessionStore, method: "create" | "rotate", ms: number): SessionStore {
  const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === method) {
        return async (...args: unknown[]) => {
          await sleep(ms);
          return original(...args);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}
