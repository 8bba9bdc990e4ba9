import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { createSessionManager } from "../../index.js";
import { createMemoryStore } from "../../stores/memory/index.js";
import { latchkey } from "./index.js";

test("the cookie reaches a response whose headers are immutable (Response.redirect, a fetch pass-through)", async () => {
  const sessions = createSessionManager({ store: createMemoryStore() });
  const app = new Hono();
  app.use(latchkey({ sessions }));
  app.post("/login", async (c) => {
    await c.get("session").create("ada");
    return Response.redirect("http://app.test/", 303);
  });
  const response = await app.request("http://app.test/login", { method: "POST" });
  assert.equal(response.status, 303);
  assert.equal(response.headers.get("location"), "http://app.test/");
  const [cookie] = response.headers.getSetCookie();
  assert.match(cookie ?? "", /^lk=[A-Za-z0-9_-]{43}; /);
  assert.equal(response.headers.get("cache-control"), "no-store");
  const token = /^lk=([^;]+)/.exec(cookie ?? "")?.[1];
  assert.equal((await sessions.load(token))?.userId, "ada");
});
