import { html, type SafeHtml } from "../html.js";
import { ICON_PATH, STYLESHEET_PATH } from "./style.js";

/** What every page needs to know besides its own content. */
export interface PageContext {
  /** The logged-in user's display name, or null for an anonymous visitor. */
  username: string | null;
  /** True when sessions live in process memory: the footer says they vanish on restart. */
  inMemory: boolean;
}

export interface PageOptions {
  title: string;
  body: SafeHtml;
  /** A wider card, for lists. */
  wide?: boolean;
}

/** The page skeleton: header (with a logout button when logged in), one card, footer. No scripts. */
export function layout(context: PageContext, { title, body, wide = false }: PageOptions): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · latchkey</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
<link rel="icon" href="${ICON_PATH}" type="image/svg+xml">
</head>
<body>
<a class="skip" href="#content">Skip to content</a>
<header class="bar">
  <a class="brand" href="/"><span class="brand-mark" aria-hidden="true">lk</span>latchkey</a>
  ${context.username === null ? anonymousNav() : accountNav(context.username)}
</header>
<main id="content">
  <div class="card${wide ? " wide" : ""}">
${body}
  </div>
</main>
${
  context.inMemory
    ? html`<footer><p class="note">Sessions are kept in memory: they vanish on restart.</p></footer>`
    : ""
}
</body>
</html>
`;
}

function anonymousNav(): SafeHtml {
  return html`<nav class="account" aria-label="Account">
    <a href="/login">Log in</a>
    <a href="/signup">Sign up</a>
  </nav>`;
}

function accountNav(username: string): SafeHtml {
  return html`<nav class="account" aria-label="Account">
    <span class="who"><span class="who-label">Signed in as </span><strong>${username}</strong></span>
    <a href="/sessions">Sessions</a>
    <form method="post" action="/logout"><button type="submit" class="secondary small">Log out</button></form>
  </nav>`;
}
