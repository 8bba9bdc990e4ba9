import { html, type SafeHtml } from "../html.js";
import { ICON_PATH, STYLESHEET_PATH } from "./style.js";

/** The colour themes a visitor may choose; "auto" (no choice) follows the system. */
export const THEMES = ["auto", "light", "dark"] as const;
export type Theme = (typeof THEMES)[number];

/** What every page needs to know besides its own content. */
export interface PageContext {
  /** The logged-in user's display name, or null for an anonymous visitor. */
  username: string | null;
  /** True when sessions live in process memory: the footer says they vanish on restart. */
  inMemory: boolean;
  /** A one-time notice ("You have logged out."), shown above the page's content. */
  notice?: string | null;
  /** The visitor's chosen theme (kept in their session, before and after login). */
  theme?: Theme;
  /** The page's own path, where the theme form sends the visitor back. */
  path?: string;
  /** How long "Keep me signed in" keeps a session (SESSION_REMEMBER_TIMEOUT). */
  rememberSeconds?: number;
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
<html lang="en"${context.theme && context.theme !== "auto" ? html` data-theme="${context.theme}"` : ""}>
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
${context.notice ? html`<p class="notice" role="status">${context.notice}</p>` : ""}
${body}
  </div>
</main>
<footer>
${themeForm(context.theme ?? "auto", context.path ?? "/")}
${context.inMemory ? html`<p class="note">Sessions are kept in memory: they vanish on restart.</p>` : ""}
</footer>
</body>
</html>
`;
}

const THEME_LABELS: Record<Theme, string> = { auto: "Auto", light: "Light", dark: "Dark" };

/**
 * The three buttons for each current theme, built once: every page carries them, and building them per
 * view cost about 6% of a page view's instructions (count-instructions).
 */
const THEME_BUTTONS = Object.fromEntries(
  THEMES.map((current) => [
    current,
    html`${THEMES.map(
      (theme) =>
        html` <button type="submit" name="theme" value="${theme}" class="secondary" aria-pressed="${String(theme === current)}">${THEME_LABELS[theme]}</button>`,
    )}`,
  ]),
) as Record<Theme, SafeHtml>;

/** Three buttons; the choice is kept in the visitor's session (an anonymous one before login). */
function themeForm(current: Theme, back: string): SafeHtml {
  return html`<form method="post" action="/theme" class="theme" aria-label="Colour theme">
  <input type="hidden" name="back" value="${back}">
  <span>Theme</span>${THEME_BUTTONS[current]}
</form>`;
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
    <a href="/account">Account</a>
    <form method="post" action="/logout"><button type="submit" class="secondary small">Log out</button></form>
  </nav>`;
}
