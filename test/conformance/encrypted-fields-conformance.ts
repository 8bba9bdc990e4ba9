import assert from "node:assert/strict";
import { it } from "node:test";
import { decryptValue, encryptValue, fieldKeyOf } from "../../src/core/field-encryption.js";
import { createSessionManager, type SessionManager } from "../../src/core/session-manager.js";
import { isForwarded, type StoredSession, type TouchPolicy } from "../../src/core/session-store.js";
import { generateToken, storageIdOf, tagOf } from "../../src/core/token.js";
import { assertNotStored, assertStored, type Context, tracked } from "./conformance-context.js";

const ENCRYPTED_SCHEMA = { name: "string", note: "string", prefs: "json", visits: "integer" } as const;
type EncryptedSchema = typeof ENCRYPTED_SCHEMA;

/** Encrypted fields (`encryptFields`): what the store holds, and what each token can read. */
export function encryptedFieldsTests(ctx: () => Context, { userIndex }: { userIndex: boolean }): void {
  let manager: SessionManager<EncryptedSchema> | undefined;
  const sessions = (): SessionManager<EncryptedSchema> => {
    const { target, clock, issued } = ctx();
    manager ??= tracked(
      createSessionManager({
        store: target.store,
        fields: ENCRYPTED_SCHEMA,
        encryptFields: ["note", "prefs"],
        clock: () => clock.now(),
        idleTimeoutSeconds: 60,
        absoluteTimeoutSeconds: 120,
      }),
      issued,
    );
    return manager;
  };
  const policy = (): TouchPolicy => ({ now: ctx().clock.now(), idleTimeoutMs: 60_000, touchIntervalMs: 0 });
  /** The session as the store holds it, read directly (not through the manager that decrypts). */
  const raw = async (token: string): Promise<StoredSession> => {
    const stored = await ctx().target.store.load(storageIdOf(token), policy());
    assert.ok(stored !== null && typeof stored === "object" && !isForwarded(stored), "the session is live");
    return stored;
  };

  it("stores no plaintext: every stored value is ciphertext, and load returns the plaintext", async () => {
    const { target, user } = ctx();
    const note = `diagnosis-${generateToken().slice(0, 12)}`;
    const secret = `card-${generateToken().slice(0, 12)}`;
    const name = `visible-${generateToken().slice(0, 12)}`;
    const updated = `updated-${generateToken().slice(0, 12)}`;
    const { token, session } = await sessions().create(user("enc"), { data: { note, name } });
    assert.deepEqual(session.data, { note, name }, "create answers with the plaintext");
    assert.equal(await sessions().update(token, { prefs: { updated } }, ["name"]), true);
    assert.deepEqual((await sessions().load(token))?.data, { note, prefs: { updated } }, "update encrypts");
    assert.equal(await sessions().set(token, { prefs: { secret }, name }), true);
    const loaded = await sessions().load(token, { increment: { visits: 1 } });
    assert.deepEqual(loaded?.data, { note, name, prefs: { secret }, visits: 1 });
    const stored = await raw(token);
    assert.match(stored.fields.note ?? "", /^v1\./);
    assert.match(stored.fields.prefs ?? "", /^v1\./);
    assert.equal(stored.fields.name, name, "a field not listed stays in clear");
    await assertStored(target, name, "a field not encrypted (the positive control)");
    await assertNotStored(target, [note, secret, updated], "an encrypted field's plaintext");
  });

  it("rotation re-encrypts under the new token: the new one reads, the old one reads nothing", async () => {
    const { user } = ctx();
    const note = `rotated-${generateToken().slice(0, 12)}`;
    const { token } = await sessions().create(user("enc-rotate"), { data: { note, prefs: [1, 2] } });
    const before = (await raw(token)).fields.note as string;
    const rotated = await sessions().rotate(token);
    assert.ok(rotated);
    assert.deepEqual(rotated.session.data, { note, prefs: [1, 2] });
    assert.equal(await sessions().load(token), null, "the old token is dead");
    assert.deepEqual((await sessions().load(rotated.token))?.data, { note, prefs: [1, 2] });
    const after = (await raw(rotated.token)).fields.note as string;
    assert.notEqual(after, before, "re-encrypted, not copied");
    assert.equal(decryptValue(fieldKeyOf(rotated.token), "note", after), note);
    assert.equal(
      decryptValue(fieldKeyOf(token), "note", after),
      undefined,
      "the old token's key reads nothing",
    );
  });

  it("a rotation never loses a concurrent set of an encrypted field", async () => {
    const { user } = ctx();
    for (let trial = 0; trial < 20; trial++) {
      const { token } = await sessions().create(user("enc-race"), { data: { note: "before" } });
      const [rotated, written] = await Promise.all([
        sessions().rotate(token),
        sessions().set(token, { note: `during-${trial}` }),
      ]);
      assert.ok(rotated);
      const note = (await sessions().load(rotated.token))?.data.note;
      // Either the set reached the old session before the rotation moved it (and was re-encrypted
      // with it), or it came after and found the old token dead: never written and then lost.
      assert.equal(note, written ? `during-${trial}` : "before", `trial ${trial}`);
    }
  });

  it("the store's rotate writes nothing when a rewritten field changed since it was read", async () => {
    const { target } = ctx();
    const { token } = await sessions().createAnonymous({ data: { note: "kept" } });
    const oldId = storageIdOf(token);
    const newId = storageIdOf(generateToken(tagOf(token)));
    const stale = { expect: { note: "v1.stale" }, set: { note: "v1.new" } };
    assert.equal(await target.store.rotate(oldId, newId, policy(), stale), null);
    const wasAbsent = { expect: { note: "" }, set: {} };
    assert.equal(await target.store.rotate(oldId, newId, policy(), wasAbsent), null);
    assert.equal(await target.store.load(newId, policy()), null, "nothing at the new id");
    assert.deepEqual((await sessions().load(token))?.data, { note: "kept" }, "the old session as it was");
  });

  it("promotion carries kept encrypted fields, re-encrypted under the new token", async () => {
    const { user } = ctx();
    const anonymous = await sessions().createAnonymous({ data: { note: "cart", prefs: { dropped: true } } });
    const promoted = await sessions().promote(anonymous.token, user("enc-promote"), { keep: ["note"] });
    assert.deepEqual(promoted.session.data, { note: "cart" });
    assert.deepEqual((await sessions().load(promoted.token))?.data, { note: "cart" });
    const stored = (await raw(promoted.token)).fields.note as string;
    assert.equal(decryptValue(fieldKeyOf(anonymous.token), "note", stored), undefined);
  });

  it("a value that does not decrypt is left out, never an exception", async () => {
    const { target } = ctx();
    const { token } = await sessions().createAnonymous({ data: { name: "n", note: "x", prefs: { a: 1 } } });
    const id = storageIdOf(token);
    const stored = await raw(token);
    const other = encryptValue(fieldKeyOf(generateToken()), "note", "another token's");
    const tampered = `${(stored.fields.note as string).slice(0, -2)}AA`;
    // The prefs ciphertext moved into note: the field's name is authenticated, so it fails too.
    for (const value of [other, tampered, stored.fields.prefs as string, "in clear"]) {
      await target.store.update(id, { set: { note: value }, maxBytes: 32768 }, policy().now);
      assert.deepEqual((await sessions().load(token))?.data, { name: "n", prefs: { a: 1 } });
    }
  });

  if (userIndex) {
    it("listForUser, which has no token, returns the encrypted fields absent", async () => {
      const { user } = ctx();
      const userId = user("enc-list");
      await sessions().create(userId, { data: { note: "private", name: "shown" } });
      const [listed] = await sessions().listForUser(userId);
      assert.deepEqual(listed?.data, { name: "shown" });
    });
  }
}
