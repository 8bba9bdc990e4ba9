import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ERROR_CODES,
  InvalidArgumentError,
  isStoreUnavailable,
  type LatchkeyErrorCode,
  StoreUnavailableError,
} from "../core/errors.js";
import { HTTP_ERRORS, httpErrorOf, LatchkeyHTTPError, toHTTPError } from "./http-errors.js";

describe("errors as HTTP answers", () => {
  test("every error code has a status and a message that quotes nothing", () => {
    for (const code of Object.keys(ERROR_CODES) as LatchkeyErrorCode[]) {
      const { status, message } = HTTP_ERRORS[code];
      assert.ok(status >= 400 && status < 600, code);
      assert.doesNotMatch(message, /latchkey|redis|store/i, code);
    }
    assert.equal(HTTP_ERRORS.STORE_UNAVAILABLE.status, 503);
    assert.equal(HTTP_ERRORS.CROSS_ORIGIN_REQUEST.status, 403);
    assert.equal(httpErrorOf(new Error("boom at 10.0.0.1")).status, 500);
  });

  test("a store outage becomes a 503 that keeps the original as cause and shows none of it", async () => {
    const original = new StoreUnavailableError(
      "latchkey: redis load failed: connect ECONNREFUSED 127.0.0.1:6379",
    );
    const http = toHTTPError(original) as LatchkeyHTTPError;
    assert.ok(http instanceof LatchkeyHTTPError);
    assert.equal(http.status, 503);
    assert.equal(http.statusCode, 503);
    assert.equal(http.expose, true);
    assert.equal(http.cause, original);
    assert.ok(isStoreUnavailable(http), "apps that branch on the code still can");
    for (const text of [http.message, http.stack ?? "", String(http)]) {
      assert.doesNotMatch(text, /ECONNREFUSED|127\.0\.0\.1|\.ts:|\.js:/);
    }
    const response = http.getResponse();
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), "5");
    assert.equal(await response.text(), http.message);
  });

  test("other errors pass through unchanged; a programming error is a plain 500", () => {
    const plain = new TypeError("x");
    assert.equal(toHTTPError(plain), plain);
    const bad = toHTTPError(new InvalidArgumentError('field "x" is not declared')) as LatchkeyHTTPError;
    assert.equal(bad.status, 500);
    assert.equal(bad.message, "Internal Server Error");
    assert.equal(toHTTPError(bad), bad, "not wrapped twice");
  });
});
