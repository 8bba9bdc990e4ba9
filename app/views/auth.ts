import { PASSWORD_RULE, USERNAME_RULE } from "../accounts.js";
import { html, type SafeHtml } from "../html.js";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../passwords.js";
import { duration } from "./home.js";
import { layout, type PageContext } from "./layout.js";

export interface FormView {
  /** The username to show again after a failed attempt. */
  username?: string;
  /** One message for the whole form. */
  error?: string;
}

function alert(error: string | undefined): SafeHtml | "" {
  return error === undefined ? "" : html`<p class="alert" role="alert">${error}</p>`;
}

export function loginPage(context: PageContext, { username = "", error }: FormView = {}): SafeHtml {
  return layout(context, {
    title: "Log in",
    body: html`<h1>Log in</h1>
    ${alert(error)}
    <form class="stack" method="post" action="/login">
      <div>
        <label for="username">Username</label>
        <input type="text" id="username" name="username" value="${username}" required maxlength="32"
          autocomplete="username" autocapitalize="none" spellcheck="false">
      </div>
      <div>
        <label for="password">Password</label>
        <input type="password" id="password" name="password" required maxlength="${PASSWORD_MAX_LENGTH}"
          autocomplete="current-password">
      </div>
      <div>
        <label class="check"><input type="checkbox" name="remember" value="1"> Keep me signed in</label>
        <span class="hint">For ${duration(context.rememberSeconds ?? 2592000)} on this device. Unticked, you are signed out when the browser closes.</span>
      </div>
      <button type="submit">Log in</button>
    </form>
    <p class="muted small">No account yet? <a href="/signup">Sign up</a>.</p>`,
  });
}

export function signupPage(context: PageContext, { username = "", error }: FormView = {}): SafeHtml {
  return layout(context, {
    title: "Sign up",
    body: html`<h1>Create an account</h1>
    ${alert(error)}
    <form class="stack" method="post" action="/signup">
      <div>
        <label for="username">Username</label>
        <input type="text" id="username" name="username" value="${username}" required minlength="3" maxlength="32"
          pattern="[A-Za-z0-9._\\-]{3,32}" aria-describedby="username-rule"
          autocomplete="username" autocapitalize="none" spellcheck="false">
        <span class="hint" id="username-rule">${USERNAME_RULE}</span>
      </div>
      <div>
        <label for="password">Password</label>
        <input type="password" id="password" name="password" required minlength="${PASSWORD_MIN_LENGTH}"
          maxlength="${PASSWORD_MAX_LENGTH}" aria-describedby="password-rule" autocomplete="new-password">
        <span class="hint" id="password-rule">${PASSWORD_RULE}</span>
      </div>
      <button type="submit">Sign up</button>
    </form>
    <p class="muted small">Already have an account? <a href="/login">Log in</a>.</p>`,
  });
}

/** Shown when a GET /logout comes from another site: logging out takes a deliberate click. */
export function logoutConfirmPage(context: PageContext): SafeHtml {
  return layout(context, {
    title: "Log out?",
    body: html`<h1>Log out?</h1>
    <p>A link from another site asked to log you out. Do you want to?</p>
    <form method="post" action="/logout" class="actions">
      <button type="submit">Log out</button>
      <a class="button secondary" href="/">Stay logged in</a>
    </form>`,
  });
}
