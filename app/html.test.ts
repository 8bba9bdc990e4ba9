import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeHTML, html, SafeHtml } from "./html.js";

test("interpolations are escaped", () => {
  const evil = `<script>alert("x")</script>&'\``;
  assert.equal(
    html`<p title="${evil}">${evil}</p>`.toString(),
    '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&#96;</p>',
  );
});

test("nested templates, arrays and empty values", () => {
  const items = ["<a>", "b"].map((item) => html`<li>${item}</li>`);
  assert.equal(html`<ul>${items}</ul>`.toString(), "<ul><li>&lt;a&gt;</li><li>b</li></ul>");
  assert.equal(html`${null}${undefined}${false}${0}`.toString(), "0");
  assert.ok(html`x` instanceof SafeHtml);
});

test("only SafeHtml passes unescaped: a look-alike object does not", () => {
  const fake = { toString: () => "<b>" };
  assert.equal(html`${fake}`.toString(), "&lt;b&gt;");
  assert.equal(escapeHTML("a&b"), "a&amp;b");
});

test("each special character is escaped on its own, wherever it stands; plain text comes back as is", () => {
  for (const [char, escaped] of [
    ["&", "&amp;"],
    ["<", "&lt;"],
    [">", "&gt;"],
    ['"', "&quot;"],
    ["'", "&#39;"],
    ["`", "&#96;"],
  ] as const) {
    assert.equal(escapeHTML(char), escaped);
    assert.equal(escapeHTML(`plain ${char}`), `plain ${escaped}`);
    assert.equal(escapeHTML(`${char}${char}`), `${escaped}${escaped}`, "twice in a row, called again");
  }
  assert.equal(escapeHTML("Visits: 42 · ada_lovelace"), "Visits: 42 · ada_lovelace");
});
