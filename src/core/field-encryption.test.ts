import assert from "node:assert/strict";
import { hkdfSync } from "node:crypto";
import { describe, it } from "node:test";
import { decryptFields, decryptValue, encryptFields, encryptValue, fieldKeyOf } from "./field-encryption.js";
import { generateToken } from "./token.js";

describe("field encryption", () => {
  const token = generateToken();
  const key = fieldKeyOf(token);

  it("round-trips text (unicode, empty, long) and never stores it in clear", () => {
    for (const text of ["", "a note", "ünïcødé ✓ 🔑", "x".repeat(10_000), '{"card":"4111"}']) {
      const stored = encryptValue(key, "note", text);
      assert.match(stored, /^v1\.[A-Za-z0-9_-]+$/);
      if (text.length > 3) assert.ok(!stored.includes(text));
      assert.equal(decryptValue(key, "note", stored), text);
    }
  });

  it("derives its key by HKDF-SHA-256, as crypto.hkdfSync does", () => {
    for (const t of [token, generateToken(), "x"]) {
      const expected = hkdfSync("sha256", t, "latchkey encrypted fields v1", "latchkey field key", 32);
      assert.deepEqual(fieldKeyOf(t), Buffer.from(expected));
    }
  });

  it("derives the same key from the same token and another from another", () => {
    assert.deepEqual(fieldKeyOf(token), key);
    assert.equal(key.length, 32);
    assert.notDeepEqual(fieldKeyOf(generateToken()), key);
  });

  it("uses a fresh IV for every value: the same text twice is stored two ways", () => {
    assert.notEqual(encryptValue(key, "note", "same"), encryptValue(key, "note", "same"));
  });

  it("detects tampering: any flipped byte, a cut value, another version, garbage", () => {
    const stored = encryptValue(key, "note", "secret text");
    const body = Buffer.from(stored.slice(3), "base64url");
    for (let i = 0; i < body.length; i++) {
      const flipped = Buffer.from(body);
      flipped[i] = (flipped[i] as number) ^ 1;
      assert.equal(decryptValue(key, "note", `v1.${flipped.toString("base64url")}`), undefined, `byte ${i}`);
    }
    assert.equal(decryptValue(key, "note", stored.slice(0, -4)), undefined);
    assert.equal(decryptValue(key, "note", `v1.${body.subarray(0, 20).toString("base64url")}`), undefined);
    assert.equal(decryptValue(key, "note", `v2.${stored.slice(3)}`), undefined);
    assert.equal(decryptValue(key, "note", "secret text"), undefined, "a value written in clear");
    assert.equal(decryptValue(key, "note", "v1.!!!"), undefined);
  });

  it("binds a value to its field (AAD): moved to another field it does not decrypt", () => {
    const stored = encryptValue(key, "note", "for note only");
    assert.equal(decryptValue(key, "other", stored), undefined);
  });

  it("binds a value to its token: another token's key reads nothing", () => {
    const stored = encryptValue(key, "note", "mine");
    assert.equal(decryptValue(fieldKeyOf(generateToken()), "note", stored), undefined);
  });

  it("encryptFields/decryptFields: only the named fields, left out when they do not decrypt", () => {
    const fields = { note: "n", prefs: '{"a":1}', name: "ada" };
    const sealed = encryptFields(key, ["note", "prefs", "absent"], fields);
    assert.equal(sealed.name, "ada");
    assert.notEqual(sealed.note, "n");
    assert.ok(!("absent" in sealed));
    assert.deepEqual(decryptFields(token, ["note", "prefs", "absent"], sealed), fields);
    assert.deepEqual(decryptFields(undefined, ["note", "prefs"], sealed), { name: "ada" }, "no token");
    assert.deepEqual(decryptFields(generateToken(), ["note", "prefs"], sealed), { name: "ada" }, "wrong");
    const plain = { name: "ada" };
    assert.equal(decryptFields(token, ["note"], plain), plain, "nothing to decrypt: the same object");
  });
});
