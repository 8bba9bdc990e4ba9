import type { RecordStore } from "latchkey";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, type PasswordHasher } from "./passwords.js";

/**
 * User accounts, kept in the same backend as the sessions through `sessions.store.records`, one record
 * per account under `account:<username in lower case>`.
 *
 * Username rule: 3-32 characters of letters A-Z a-z, digits, ".", "_" and "-". Names are unique without
 * regard to case ("Ada" and "ada" are the same account); the name is shown as it was typed at sign-up.
 */
export const USERNAME_RULE =
  "3–32 characters: letters, digits, dot, underscore or hyphen. Case does not matter.";
export const PASSWORD_RULE = `${PASSWORD_MIN_LENGTH}–${PASSWORD_MAX_LENGTH} characters.`;

const USERNAME = /^[A-Za-z0-9._-]{3,32}$/;

export interface Account {
  /** The canonical name (lower case): the session's userId and the record key. */
  userId: string;
  /** The name as the user typed it at sign-up. */
  username: string;
}

export interface Accounts {
  /** The new account, or null when the name is taken. Callers validate the fields first. */
  register(username: string, password: string): Promise<Account | null>;
  /**
   * The account when the name exists and the password matches; otherwise `account` is null, in similar
   * time, and `knownAccount` says whether the name names an account (for the log only: never shown).
   */
  authenticate(username: string, password: string): Promise<AuthenticationResult>;
}

export type AuthenticationResult = { account: Account } | { account: null; knownAccount: boolean };

/** What is wrong with a username, or null when it follows the rule. */
export function usernameProblem(username: string): string | null {
  return USERNAME.test(username) ? null : `Usernames are ${USERNAME_RULE.toLowerCase()}`;
}

/** What is wrong with a new password, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  if (password.length < PASSWORD_MIN_LENGTH)
    return `Passwords need at least ${PASSWORD_MIN_LENGTH} characters.`;
  if (password.length > PASSWORD_MAX_LENGTH)
    return `Passwords have at most ${PASSWORD_MAX_LENGTH} characters.`;
  return null;
}

export function userIdOf(username: string): string {
  return username.toLowerCase();
}

export function createAccounts(records: RecordStore, passwords: PasswordHasher): Accounts {
  const keyOf = (userId: string) => `account:${userId}`;

  return {
    async register(username, password) {
      const userId = userIdOf(username);
      const passwordHash = await passwords.hash(password);
      const created = await records.insert(keyOf(userId), {
        username,
        passwordHash,
        createdAt: String(Date.now()),
      });
      return created ? { userId, username } : null;
    },

    async authenticate(username, password) {
      // A name that breaks the rule cannot exist; still hash, so timing says nothing about it.
      const valid = usernameProblem(username) === null && password.length <= PASSWORD_MAX_LENGTH;
      const userId = userIdOf(username);
      const record = valid ? await records.get(keyOf(userId)) : null;
      const hash = record?.passwordHash;
      if (record === null || hash === undefined) {
        await passwords.verifyNothing(password.slice(0, PASSWORD_MAX_LENGTH));
        return { account: null, knownAccount: false };
      }
      if (!(await passwords.verify(password, hash))) return { account: null, knownAccount: true };
      return { account: { userId, username: record.username ?? username } };
    },
  };
}
