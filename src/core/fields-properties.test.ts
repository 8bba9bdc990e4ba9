import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { InvalidArgumentError } from "./errors.js";
import { decodeFields, encodeFields, type FieldSchema } from "./fields.js";

const SCHEMA = { s: "string", i: "integer", b: "boolean", j: "json" } as const satisfies FieldSchema;

describe("field codec properties", () => {
  test("encoding any value gives strings or an InvalidArgumentError, never another exception", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("s", "i", "b", "j", "x", "__proto__", "$u", ""),
        fc.anything(),
        (name, value) => {
          try {
            const encoded = encodeFields(SCHEMA, { [name]: value });
            for (const text of Object.values(encoded)) assert.equal(typeof text, "string");
          } catch (error) {
            assert.ok(error instanceof InvalidArgumentError, String(error));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("every value a schema accepts decodes back to itself", () => {
    const data = fc.record(
      {
        s: fc.string(),
        i: fc.maxSafeInteger(),
        b: fc.boolean(),
        j: fc.jsonValue().map((value) => JSON.parse(JSON.stringify(value)) as unknown),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(data, (values) => {
        // Spread: fast-check may build the record without a prototype, which deepEqual would compare.
        assert.deepEqual(decodeFields(SCHEMA, encodeFields(SCHEMA, values)), { ...values });
      }),
    );
  });

  test("decoding any stored strings never throws, and keeps only declared fields of their kind", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom("s", "i", "b", "j", "other"), fc.string()), (raw) => {
        const data = decodeFields(SCHEMA, raw) as Record<string, unknown>;
        assert.ok(!("other" in data));
        if ("i" in data) assert.ok(Number.isSafeInteger(data.i));
        if ("b" in data) assert.equal(typeof data.b, "boolean");
      }),
    );
  });
});
