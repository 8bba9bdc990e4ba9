/**
 * Hostile and malformed input never reaches a 5xx, every user string is escaped, and the logs never
 * hold a password, a token or a cookie. Parsing does not depend on the store: the memory store is used.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import { DEFAULT_CONFIG } from "./config.js";
import { createTestClient, uniqueName } from "./test-client.js";

const PASSWORD = "hunter2-but-longer";
const FORM = "application/x-www-form-urlencoded";

describe("hostile input", () => {
  let app: FastifyInstance;
  const logLines: string[] = [];

  before(async () => {
    app = await buildApp(
      { ...DEFAULT_CONFIG, logLevel: "trace" },
      { logStream: { write: (line: string) => void logLines.push(line) } },
    );
    app.get("/boom", async () => {
      throw new Error("secret internal detail /etc/passwd");
    });
    await app.ready();
  });
  after(() => app.close());

  const post = (payload: string | Buffer, contentType: string | null = FORM, url = "/login") =>
    app.inject({
      method: "POST",
      url,
      payload,
      headers: contentType === null ? {} : { "content-type": contentType },
    });

  test("a body over 8 KiB is a 413 page", async () => {
    const response = await post(`username=a&password=${"x".repeat(9000)}`);
    assert.equal(response.statusCode, 413);
    assert.match(response.body, /Request too large/);
  });

  test("other content types are 415", async () => {
    for (const type of [
      "application/json",
      "text/plain",
      "multipart/form-data; boundary=x",
      "application/xml",
    ]) {
      const response = await post('{"username":"a","password":"b"}', type);
      assert.equal(response.statusCode, 415, type);
      assert.match(response.body, /Unsupported form/);
    }
    const untyped = await post("username=a&password=b", null);
    assert.equal(untyped.statusCode, 415);
  });

  test("missing, repeated, badly encoded or too many fields are 400", async () => {
    const bodies: (string | Buffer)[] = [
      "",
      "username=ada",
      "password=whatever-long",
      "username=ada&username=bob&password=whatever-long",
      "username=%E0%A4%A&password=whatever-long",
      "username=%FF&password=whatever-long",
      "username=%&password=whatever-long",
      Buffer.from([0x75, 0x3d, 0xff, 0xfe, 0x26, 0x70, 0x3d, 0x61]),
      Array.from({ length: 20 }, (_, i) => `f${i}=x`).join("&"),
    ];
    for (const body of bodies) {
      for (const url of ["/login", "/signup"]) {
        const response = await post(body, FORM, url);
        assert.equal(response.statusCode, 400, `${url} ${body.toString()}`);
        assert.match(response.body, /Bad request/);
      }
    }
    const noBody = await app.inject({ method: "POST", url: "/login" });
    assert.equal(noBody.statusCode, 400);
  });

  test("__proto__ and other odd field names are plain data", async () => {
    const response = await post(`__proto__=x&constructor=y&username=${uniqueName()}&password=${PASSWORD}`);
    assert.equal(response.statusCode, 401);
  });

  test("malformed URLs are client errors", async () => {
    for (const url of ["/%", "/%E0%A4%A", "/%FF", `/${"a".repeat(5000)}`, "/sessions/%FF/end"]) {
      const response = await app.inject({ method: "GET", url });
      assert.ok(response.statusCode >= 400 && response.statusCode < 500, `${url}: ${response.statusCode}`);
    }
    const longId = await app.inject({ method: "POST", url: `/sessions/${"a".repeat(500)}/end` });
    assert.ok(longId.statusCode < 500);
  });

  test("huge, duplicated and malformed cookies mean anonymous", async () => {
    const browser = createTestClient(app);
    await browser.post("/signup", { username: uniqueName(), password: PASSWORD });
    const good = browser.cookie ?? "";
    const token = good.replace(/^lk=/, "");
    const cookies = [
      `lk=${"A".repeat(12000)}`,
      `lk=${token}; lk=${token}`,
      "lk=<script>",
      "lk",
      ";;;===;",
      `lk=${token.slice(1)}`,
      `lk=${token}x`,
      Array.from({ length: 300 }, (_, i) => `c${i}=v`).join("; "),
    ];
    for (const cookie of cookies) {
      const response = await app.inject({ url: "/", headers: { cookie } });
      assert.equal(response.statusCode, 200, cookie.slice(0, 40));
      assert.match(response.body, /You are not logged in/);
    }
    assert.match((await app.inject({ url: "/", headers: { cookie: good } })).body, /Logged in as/);
  });

  test("user input is escaped in every page", async () => {
    const attack = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;
    for (const url of ["/login", "/signup"]) {
      const response = await post(`username=${encodeURIComponent(attack)}&password=${PASSWORD}`, FORM, url);
      assert.ok([400, 401].includes(response.statusCode));
      assert.doesNotMatch(response.body, /<script|<img/);
      assert.match(response.body, /value="&quot;&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;&lt;img/);
    }
    const duplicate = await post(`${encodeURIComponent("<b>")}=1&${encodeURIComponent("<b>")}=2`);
    assert.equal(duplicate.statusCode, 400);
    assert.doesNotMatch(duplicate.body, /<b>/);
  });

  test("an unexpected error is a generic 500 page without details", async () => {
    const response = await app.inject({ url: "/boom" });
    assert.equal(response.statusCode, 500);
    assert.match(response.body, /Something went wrong/);
    assert.doesNotMatch(response.body, /secret internal detail|passwd|at .*\.ts/);
  });

  test("logs never contain passwords, tokens or cookies", async () => {
    const browser = createTestClient(app);
    const username = uniqueName();
    await browser.post("/signup", { username, password: PASSWORD });
    await browser.get("/");
    await browser.post("/login", { username, password: "wrong-password-123" });
    await browser.post("/login", { username, password: PASSWORD });
    await browser.get("/?token=query-secret");
    const token = (browser.cookie ?? "").replace(/^lk=/, "");
    assert.equal(token.length, 43);
    const logs = logLines.join("\n");
    assert.ok(logs.includes("logged in"), "the log was captured");
    for (const secret of [PASSWORD, "wrong-password-123", token, "query-secret", "set-cookie", "lk="]) {
      assert.ok(!logs.includes(secret), `log contains ${secret}`);
    }
  });

  test("a failed login logs the typed name only when it is an account; logged paths are bounded", async () => {
    const browser = createTestClient(app);
    const username = uniqueName();
    await browser.post("/signup", { username, password: PASSWORD });
    const from = logLines.length;
    // A password typed into the username field: a well-formed name that is no account.
    const typo = "Tr0ub4dor.and.3";
    assert.equal(
      (await createTestClient(app).post("/login", { username: typo, password: "x".repeat(12) })).status,
      401,
    );
    assert.equal(
      (await createTestClient(app).post("/login", { username, password: "wrong-password!" })).status,
      401,
    );
    await app.inject({ method: "GET", url: `/${"a".repeat(5000)}` });
    const lines = logLines.slice(from).join("");
    assert.doesNotMatch(
      lines,
      new RegExp(typo.toLowerCase().replaceAll(".", "\\.")),
      "the unknown name is not logged",
    );
    assert.match(lines, /"reason":"unknown account"/);
    assert.match(lines, new RegExp(`"userId":"${username.toLowerCase()}","reason":"wrong password"`));
    assert.doesNotMatch(lines, /a{201}/, "no log line carries a 5000-character path");
  });
});
