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
  /**
   * Whether the account still exists with the password `credential` was checked against (the
   * `credential` of `authenticate`). A login checks it after its session is written: a password
   * change or an account deletion that ran meanwhile then ends that session (see routes/auth.ts).
   */
  isCurrent(userId: string, credential: string): Promise<boolean>;
  /**
   * Changes the password when `currentPassword` is right, atomically against a concurrent change (the
   * stored hash must still be the one checked). "done", "wrong-password", or "gone" (no account).
   */
  changePassword(userId: string, currentPassword: string, newPassword: string): Promise<AccountChange>;
  /** Deletes the account when `currentPassword` is right; its name is free again. As `changePassword`. */
  remove(userId: string, currentPassword: string): Promise<AccountChange>;
}

export type AuthenticationResult =
  | { account: Account; credential: string }
  | { account: null; knownAccount: boolean };

export type AccountChange = "done" | "wrong-password" | "gone";

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

  /**
   * The stored hash when `password` is the account's, else why not (a missing account, or a password
   * too long to be any, costs a hash too, so timing says nothing).
   */
  const check = async (
    userId: string,
    password: string,
  ): Promise<{ hash: string } | "wrong-password" | "gone"> => {
    const record = password.length <= PASSWORD_MAX_LENGTH ? await records.get(keyOf(userId)) : null;
    const hash = record?.passwordHash;
    if (hash === undefined) {
      await passwords.verifyNothing(password.slice(0, PASSWORD_MAX_LENGTH));
      return record === null && password.length <= PASSWORD_MAX_LENGTH ? "gone" : "wrong-password";
    }
    return (await passwords.verify(password, hash)) ? { hash } : "wrong-password";
  };

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
      return { account: { userId, username: record.username ?? username }, credential: hash };
    },

    async isCurrent(userId, credential) {
      return (await records.get(keyOf(userId)))?.passwordHash === credential;
    },

    async changePassword(userId, currentPassword, newPassword) {
      const checked = await check(userId, currentPassword);
      if (typeof checked === "string") return checked;
      const passwordHash = await passwords.hash(newPassword);
      // Only over the hash just checked: of two concurrent changes, the second finds another hash.
      const updated = await records.update(
        keyOf(userId),
        { passwordHash },
        { expect: { passwordHash: checked.hash } },
      );
      return updated ? "done" : "wrong-password";
    },

    async remove(userId, currentPassword) {
      const checked = await check(userId, currentPassword);
      if (typeof checked === "string") return checked;
      await records.delete(keyOf(userId));
      return "done";
    },
  };
}
