import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { BadFormError, parseForm } from "./form.js";

describe("form parser properties", () => {
  test("any body gives fields or a BadFormError, never another exception", () => {
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 400 }),
      fc
        .string({ unit: fc.constantFrom("a", "=", "&", "%", "+", "2", "F", "C", "é", "_"), maxLength: 120 })
        .map((text) => new TextEncoder().encode(text)),
    );
    fc.assert(
      fc.property(body, (bytes) => {
        try {
          const fields = parseForm(Buffer.from(bytes));
          assert.ok(Object.keys(fields).length <= 16);
          for (const value of Object.values(fields)) assert.equal(typeof value, "string");
        } catch (error) {
          assert.ok(error instanceof BadFormError, String(error));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test("what URLSearchParams encodes, parseForm reads back", () => {
    const name = fc.string({ minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(name, fc.string({ maxLength: 40 })), { maxLength: 16, selector: ([n]) => n }),
        (pairs) => {
          const body = new URLSearchParams(pairs).toString();
          const fields = parseForm(Buffer.from(body));
          assert.deepEqual({ ...fields }, Object.fromEntries(pairs));
        },
      ),
    );
  });
});
