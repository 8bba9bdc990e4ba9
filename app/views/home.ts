import { html, type SafeHtml } from "../html.js";
import { layout, type PageContext } from "./layout.js";

export function anonymousHomePage(context: PageContext): SafeHtml {
  return layout(context, {
    title: "Welcome",
    body: html`<h1>Welcome</h1>
    <p class="lead">You are not logged in.</p>
    <p class="muted">Log in to start a session: this page will count your visits while it lasts.</p>
    <div class="actions">
      <a class="button" href="/login">Log in</a>
      <a class="button secondary" href="/signup">Sign up</a>
    </div>`,
  });
}

export interface HomeView {
  username: string;
  visits: number;
  idleTimeoutSeconds: number;
}

export function homePage(context: PageContext, { username, visits, idleTimeoutSeconds }: HomeView): SafeHtml {
  return layout(context, {
    title: "Home",
    body: html`<h1>Hello again</h1>
    <p class="lead">Logged in as <strong>${username}</strong>.</p>
    <p class="stat">Visits: <strong id="visits">${visits}</strong></p>
    <p class="muted small">Each view of this page adds one, atomically, in the same store round trip that
    loads your session. Stay away for ${duration(idleTimeoutSeconds)} and the session ends.</p>
    <div class="actions">
      <a class="button secondary" href="/sessions">Your sessions</a>
    </div>`,
  });
}

/** "30 minutes", "10 seconds", "1 hour": for the idle-timeout sentence. */
export function duration(seconds: number): string {
  const units: [number, string][] = [
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
  ];
  for (const [size, name] of units) {
    if (seconds >= size && seconds % size === 0) return plural(seconds / size, name);
  }
  return plural(seconds, "second");
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}
