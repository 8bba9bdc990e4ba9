import { html, type SafeHtml } from "../html.js";
import { layout, type PageContext } from "./layout.js";

export interface SessionRow {
  id: string;
  createdAt: Date;
  lastSeenAt: Date;
  /** The session's absolute end. */
  expiresAt: Date;
  /** When it ends if not used again. */
  idleExpiresAt: Date;
  /** True when its cookie ends with the browser (not "kept signed in"). */
  browserSession: boolean;
  userAgent: string;
  ip: string;
}

export function sessionsPage(
  context: PageContext,
  rows: readonly SessionRow[],
  currentId: string | null,
): SafeHtml {
  const now = Date.now();
  const others = rows.filter((row) => row.id !== currentId).length;
  return layout(context, {
    title: "Your sessions",
    wide: true,
    body: html`<h1>Your sessions</h1>
    <p class="muted">Every browser or device where you are logged in. End any you do not recognise.</p>
    <ul class="sessions">
      ${rows.map((row) => sessionItem(row, row.id === currentId, now))}
    </ul>
    ${
      others > 0
        ? html`<form method="post" action="/sessions/end-others" class="actions">
      <button type="submit" class="danger">End all other sessions (${others})</button>
    </form>`
        : html`<p class="muted small actions">No other sessions.</p>`
    }`,
  });
}

function sessionItem(row: SessionRow, current: boolean, now: number): SafeHtml {
  // Sessions store the device summary made at login (routes/auth.ts).
  const device = row.userAgent || "Unknown device";
  return html`<li class="session${current ? " current" : ""}">
        <div>
          <h2>${device}${current ? html` <span class="badge">This device</span>` : ""}${
            row.browserSession ? "" : html` <span class="badge">Kept signed in</span>`
          }</h2>
          <dl>
            <dt>Last seen</dt><dd>${when(row.lastSeenAt, now)}</dd>
            <dt>Started</dt><dd>${when(row.createdAt, now)}</dd>
            <dt>Ends</dt><dd>${endOf(row)}</dd>
            <dt>IP address</dt><dd>${row.ip || "unknown"}</dd>
          </dl>
        </div>
        <form method="post" action="/sessions/${row.id}/end">
          <button type="submit" class="small ${current ? "secondary" : "danger"}"
            aria-label="${current ? "End this session (log out)" : `End session on ${device}`}">${current ? "Log out" : "End"}</button>
        </form>
      </li>`;
}

/** When a session ends: kept signed in, on its date; otherwise when idle (or the browser closes). */
function endOf(row: SessionRow): SafeHtml {
  if (!row.browserSession) return html`${stampOf(row.expiresAt)}`;
  return html`${stampOf(row.idleExpiresAt)} if unused, or when the browser closes`;
}

function stampOf(date: Date): SafeHtml {
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC</time>`;
}

function when(date: Date, now: number): SafeHtml {
  const iso = date.toISOString();
  const stamp = `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
  return html`<time datetime="${iso}" title="${stamp}">${ago(now - date.getTime())}</time>`;
}

function ago(ms: number): string {
  const minutes = Math.floor(ms / 60000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return `${days} day${days === 1 ? "" : "s"} ago`;
}
