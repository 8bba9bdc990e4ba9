import { createHash } from "node:crypto";

/**
 * The app's only stylesheet. It lives in a module (not a .css file) so that the compiled app in dist/
 * carries it without a copy step; it is served at a fingerprinted URL and cached for a year.
 */
/** The dark palette, for the system's dark mode and for a visitor who chose "Dark". */
const DARK = `
  --bg: #12141b; --card: #1c1f2a; --text: #eceef4; --muted: #a9afc0; --line: #323747;
  --accent: #8c9bff; --accent-text: #0f1430; --accent-soft: #262c4d; --danger: #ffb4ab;
  --danger-soft: #3b1f1d; --ok-soft: #1b3324; --ok: #9ad7a8;
`;

export const STYLESHEET = `
:root {
  color-scheme: light dark;
  --bg: #f3f4f8;
  --card: #ffffff;
  --text: #1c1f2a;
  --muted: #545b6e;
  --line: #dcdfe8;
  --accent: #3547c9;
  --accent-text: #ffffff;
  --accent-soft: #e8ebfb;
  --danger: #b3261e;
  --danger-soft: #fdeceb;
  --ok-soft: #e6f4ea;
  --ok: #1e6b34;
  --focus: #f2a900;
  --radius: 14px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  line-height: 1.5;
}
/* Dark colours follow the system unless the visitor chose a theme (data-theme on <html>). */
@media (prefers-color-scheme: dark) {
  :root:not([data-theme="light"]) { ${DARK} }
}
:root[data-theme="dark"] { ${DARK} }
:root[data-theme="light"] { color-scheme: light; }
:root[data-theme="dark"] { color-scheme: dark; }
*, *::before, *::after { box-sizing: border-box; }
html { background: var(--bg); color: var(--text); }
body { margin: 0; min-height: 100vh; display: flex; flex-direction: column; }
a { color: var(--accent); text-underline-offset: 2px; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 6px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--card); padding: .5rem 1rem; }

.bar {
  display: flex; align-items: center; justify-content: space-between; gap: 1rem; flex-wrap: wrap;
  padding: .75rem clamp(1rem, 4vw, 2rem); background: var(--card); border-bottom: 1px solid var(--line);
}
.brand { display: inline-flex; align-items: center; gap: .5rem; font-weight: 700; font-size: 1.1rem;
  color: var(--text); text-decoration: none; letter-spacing: .01em; }
.brand-mark { width: 1.6rem; height: 1.6rem; border-radius: 8px; display: grid; place-items: center;
  background: var(--accent); color: var(--accent-text); font-size: .95rem; }
.account { display: flex; align-items: center; gap: .75rem; flex-wrap: wrap; font-size: .95rem; }
.account .who { color: var(--muted); }
@media (max-width: 480px) { .account .who-label { display: none; } .account { gap: .6rem; } }
.account form { margin: 0; }

main { flex: 1; display: flex; justify-content: center; align-items: flex-start;
  padding: clamp(1.5rem, 6vw, 4rem) 1rem; }
.card {
  width: 100%; max-width: 30rem; background: var(--card); border: 1px solid var(--line);
  border-radius: var(--radius); padding: clamp(1.25rem, 5vw, 2.25rem);
  box-shadow: 0 1px 2px rgba(20, 24, 40, .06), 0 12px 32px rgba(20, 24, 40, .08);
}
.card.wide { max-width: 44rem; }
.card > :last-child { margin-bottom: 0; }
form.stack + p { margin-top: 1.25rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 .75rem; }
.card > h2 { font-size: 1.15rem; margin: 1.75rem 0 .4rem; }
.card > h1 + h2 { margin-top: .5rem; }
p { margin: 0 0 1rem; }
.lead { font-size: 1.15rem; }
.muted { color: var(--muted); }
.small { font-size: .9rem; }

.stat { display: flex; align-items: baseline; gap: .6rem; margin: 1.25rem 0; padding: 1rem 1.25rem;
  background: var(--accent-soft); border-radius: 12px; }
.stat strong { font-size: 2.25rem; line-height: 1; font-variant-numeric: tabular-nums; }

.actions { display: flex; gap: .75rem; flex-wrap: wrap; margin-top: 1.5rem; align-items: center; }
.button, button {
  appearance: none; display: inline-flex; align-items: center; justify-content: center;
  min-height: 2.75rem; padding: .55rem 1.15rem; border-radius: 10px; border: 1px solid var(--accent);
  background: var(--accent); color: var(--accent-text); font: inherit; font-weight: 600;
  text-decoration: none; cursor: pointer;
}
.button:hover, button:hover { filter: brightness(1.08); }
.button.secondary, button.secondary { background: transparent; color: var(--accent); }
button.small { min-height: 2.25rem; padding: .3rem .8rem; font-size: .9rem; }
button.danger { background: transparent; border-color: var(--danger); color: var(--danger); }

form.stack { display: grid; gap: 1.1rem; }
label { display: block; font-weight: 600; margin-bottom: .3rem; }
input[type="text"], input[type="password"] {
  width: 100%; min-height: 2.75rem; padding: .55rem .75rem; font: inherit; color: var(--text);
  background: var(--bg); border: 1px solid var(--line); border-radius: 10px;
}
input:focus-visible { border-color: var(--accent); }
.hint { display: block; margin-top: .3rem; color: var(--muted); font-size: .875rem; }
label.check { display: flex; align-items: center; gap: .5rem; font-weight: 600; margin: 0; }
label.check input { width: 1.15rem; height: 1.15rem; accent-color: var(--accent); }

.alert { padding: .75rem 1rem; border-radius: 10px; margin-bottom: 1rem;
  background: var(--danger-soft); color: var(--danger); border: 1px solid currentColor; }
.notice { padding: .75rem 1rem; border-radius: 10px; margin-bottom: 1rem;
  background: var(--ok-soft); color: var(--ok); border: 1px solid currentColor; }

footer { display: grid; justify-items: center; gap: .25rem; padding: 1rem; }
.theme { display: flex; align-items: center; gap: .4rem; margin: 0; font-size: .875rem; color: var(--muted); }
.theme button { min-height: 2rem; padding: .15rem .7rem; font-size: .875rem; }
.theme button[aria-pressed="true"] { background: var(--accent); color: var(--accent-text); }

.sessions { list-style: none; padding: 0; margin: 1rem 0 0; display: grid; gap: .75rem; }
.session { display: flex; justify-content: space-between; align-items: center; gap: 1rem; flex-wrap: wrap;
  padding: 1rem; border: 1px solid var(--line); border-radius: 12px; }
.session.current { border-color: var(--accent); background: var(--accent-soft); }
.session h2 { font-size: 1.05rem; margin: 0 0 .25rem; display: flex; flex-wrap: wrap; gap: .25rem .5rem;
  align-items: center; }
.session dl { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: .1rem .75rem; font-size: .9rem; }
.session dt { color: var(--muted); }
.session dd { margin: 0; }
.session form { margin: 0; }
.badge { white-space: nowrap; font-size: .75rem; font-weight: 700; padding: .1rem .5rem; border-radius: 999px;
  background: var(--ok-soft); color: var(--ok); }

.note { text-align: center; color: var(--muted); font-size: .875rem; padding: 0; margin: 0; }
.code { font-size: 3rem; font-weight: 800; color: var(--muted); margin: 0; line-height: 1; }
`;

const fingerprint = createHash("sha256").update(STYLESHEET).digest("hex").slice(0, 12);

/** The stylesheet's URL: it changes whenever the stylesheet does, so it can be cached forever. */
export const STYLESHEET_PATH = `/assets/style-${fingerprint}.css`;

/** The favicon: the header's "lk" mark. */
export const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="8" fill="#3547c9"/>
<text x="16" y="21.5" font-family="system-ui, sans-serif" font-size="15" font-weight="700" fill="#fff" text-anchor="middle">lk</text>
</svg>`;

export const ICON_PATH = `/assets/icon-${createHash("sha256").update(ICON).digest("hex").slice(0, 12)}.svg`;
