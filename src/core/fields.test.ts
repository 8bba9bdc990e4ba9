import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError, InvalidOptionError } from "./errors.js";
import { encodeFields, validateSchema } from "./fields.js";

describe("field codecs", () => {
  it("refuses __proto__ as a field name instead of dropping its value", () => {
    assert.throws(() => encodeFields(undefined, JSON.parse('{"__proto__":"x"}')), InvalidArgumentError);
    assert.throws(() => validateSchema(JSON.parse('{"__proto__":"json"}')), InvalidOptionError);
  });

  it("refuses a json value that has no JSON text instead of storing undefined", () => {
    const schema = { prefs: "json" } as const;
    for (const value of [() => 1, Symbol("s"), 1n]) {
      assert.throws(() => encodeFields(schema, { prefs: value }), InvalidArgumentError, String(typeof value));
    }
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    assert.throws(() => encodeFields(schema, { prefs: cycle }), InvalidArgumentError);
    assert.deepEqual(encodeFields(schema, { prefs: { a: [1, null] } }), { prefs: '{"a":[1,null]}' });
  });
});
