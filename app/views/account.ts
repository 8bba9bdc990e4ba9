import { PASSWORD_RULE } from "../accounts.js";
import { html, type SafeHtml } from "../html.js";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../passwords.js";
import { layout, type PageContext } from "./layout.js";

/** Which form a message belongs to, and the message. */
export interface AccountFormError {
  form: "password" | "delete";
  error: string;
}

function alert(problem: AccountFormError | undefined, form: AccountFormError["form"]): SafeHtml | "" {
  return problem?.form === form ? html`<p class="alert" role="alert">${problem.error}</p>` : "";
}

/** GET /account: change the password, or delete the account. Both ask for the current password. */
export function accountPage(
  context: PageContext,
  problem?: AccountFormError,
  authenticatedAt?: Date | null,
): SafeHtml {
  return layout(context, {
    title: "Your account",
    body: html`<h1>Your account</h1>
    ${
      authenticatedAt
        ? html`<p class="muted small">Password last confirmed in this session: <time datetime="${authenticatedAt.toISOString()}">${authenticatedAt.toUTCString()}</time>.</p>`
        : ""
    }
    <h2>Change password</h2>
    <p class="muted small">You stay signed in here; every other session of your account ends.</p>
    ${alert(problem, "password")}
    <form class="stack" method="post" action="/account/password">
      <div>
        <label for="current-password">Current password</label>
        <input type="password" id="current-password" name="current_password" required
          maxlength="${PASSWORD_MAX_LENGTH}" autocomplete="current-password">
      </div>
      <div>
        <label for="new-password">New password</label>
        <input type="password" id="new-password" name="new_password" required minlength="${PASSWORD_MIN_LENGTH}"
          maxlength="${PASSWORD_MAX_LENGTH}" aria-describedby="new-password-rule" autocomplete="new-password">
        <span class="hint" id="new-password-rule">${PASSWORD_RULE}</span>
      </div>
      <button type="submit">Change password</button>
    </form>
    <h2>Delete account</h2>
    <p class="muted small">Every session of your account ends and the account is removed. This cannot be undone.</p>
    ${alert(problem, "delete")}
    <form class="stack" method="post" action="/account/delete">
      <div>
        <label for="delete-password">Current password</label>
        <input type="password" id="delete-password" name="current_password" required
          maxlength="${PASSWORD_MAX_LENGTH}" autocomplete="current-password">
      </div>
      <button type="submit" class="danger">Delete my account</button>
    </form>`,
  });
}
