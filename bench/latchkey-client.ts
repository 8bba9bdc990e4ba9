/**
 * Drives the reference app as a browser would: sign up and log in through its real forms (real POSTs,
 * same-origin headers, redirects followed with a cookie jar), log out through its logout form.
 */
import { hash } from "node:crypto";
import type { Redis } from "ioredis";
import { isWellFormedToken } from "latchkey";
import type { LoggedIn } from "./cases.js";
import { type Form, fillCredentials, findForm } from "./forms.js";
import { CookieJar, type HTTPResponse, request } from "./http.js";
import type { ServerProcess } from "./server-process.js";

const SIGN_UP = /signup/;
const LOG_IN = /login/;
const LOG_OUT = /logout/;

interface Browser {
  server: ServerProcess;
  jar: CookieJar;
}

async function get(browser: Browser, path: string): Promise<HTTPResponse> {
  let url = new URL(path, browser.server.baseURL).href;
  for (let hop = 0; hop < 5; hop++) {
    const response = await request(url, {
      headers: { cookie: browser.jar.header(), "sec-fetch-site": "none" },
    });
    browser.jar.update(response);
    const location = response.headers.location;
    if (response.status < 300 || response.status >= 400 || typeof location !== "string") return response;
    url = new URL(location, url).href;
  }
  throw new Error(`${browser.server.name}: too many redirects from ${path}`);
}

async function submit(
  browser: Browser,
  form: Form,
  body: URLSearchParams,
  from: string,
): Promise<HTTPResponse> {
  const url = new URL(form.action || from, new URL(from, browser.server.baseURL)).href;
  const response = await request(url, {
    method: "POST",
    body: body.toString(),
    headers: {
      cookie: browser.jar.header(),
      "content-type": "application/x-www-form-urlencoded",
      origin: browser.server.baseURL,
      "sec-fetch-site": "same-origin",
    },
  });
  browser.jar.update(response);
  const location = response.headers.location;
  if (response.status >= 300 && response.status < 400 && typeof location === "string") {
    return get(browser, new URL(location, url).pathname + new URL(location, url).search);
  }
  return response;
}

/** The POST form on the app's page `path` whose action matches `pattern`. */
async function formOn(browser: Browser, path: string, pattern: RegExp): Promise<Form> {
  const form = findForm((await get(browser, path)).body, pattern);
  if (!form) throw new Error(`${browser.server.name}: no form matching ${pattern} on ${path}`);
  return form;
}

function sessionTokenOf(cookies: Map<string, string>): string | undefined {
  return [...cookies.values()].find((value) => isWellFormedToken(value));
}

/**
 * The accounts this process signed up in the benchmark's Redis, shared by the cases on it (their apps
 * share the accounts): signing up again for every round would reach the app's sign-up limit (10 per
 * client per 15 minutes; a sign-up of an existing name counts too). The memory-store case signs up in
 * every fresh server.
 */
const signedUpOnRedis = new Set<string>();

/** Logs in through the app's forms, signing up first unless the account exists already on Redis. */
export function latchkeyLogin(onRedis: boolean) {
  return (server: ServerProcess, username: string): Promise<LoggedIn> =>
    logInAs(server, username, !(onRedis && signedUpOnRedis.has(username))).then((session) => {
      if (onRedis) signedUpOnRedis.add(username);
      return session;
    });
}

async function logInAs(server: ServerProcess, username: string, signUp: boolean): Promise<LoggedIn> {
  const browser: Browser = { server, jar: new CookieJar() };
  const password = `correct horse battery staple ${username}`;

  if (signUp) {
    const signUpForm = await formOn(browser, "/signup", SIGN_UP);
    const signedUp = await submit(
      browser,
      signUpForm,
      fillCredentials(signUpForm, username, password),
      "/signup",
    );
    // 409: the account exists already (an earlier run on the same Redis): logging in is all that is left.
    if (signedUp.status >= 400 && signedUp.status !== 409) {
      throw new Error(
        `${server.name}: sign-up failed with ${signedUp.status}: ${signedUp.body.slice(0, 500)}`,
      );
    }
  }

  // Whether or not signing up logged us in, log in through the login form as a returning user would.
  browser.jar.cookies.clear();
  const logInForm = await formOn(browser, "/login", LOG_IN);
  const landing = await submit(browser, logInForm, fillCredentials(logInForm, username, password), "/login");
  if (landing.status >= 400 || !sessionTokenOf(browser.jar.cookies)) {
    throw new Error(`${server.name}: login failed with ${landing.status}: ${landing.body.slice(0, 500)}`);
  }
  const cookies = new Map(browser.jar.cookies);
  return { cookies, cookie: browser.jar.header(), logoutForm: findForm(landing.body, LOG_OUT) };
}

export async function latchkeyLogout(server: ServerProcess, session: LoggedIn): Promise<HTTPResponse> {
  const form = session.logoutForm;
  if (!form) throw new Error(`${server.name}: the page after login has no logout form`);
  const body = new URLSearchParams(form.fields.map((field): [string, string] => [field.name, field.value]));
  return request(new URL(form.action, server.baseURL).href, {
    method: "POST",
    body: body.toString(),
    headers: {
      cookie: session.cookie,
      "content-type": "application/x-www-form-urlencoded",
      origin: server.baseURL,
      "sec-fetch-site": "same-origin",
    },
  });
}

/** Whether any Redis key carries the storage id (slot tag + SHA-256 of the token) of the session. */
export async function latchkeySessionExists(admin: Redis, session: LoggedIn): Promise<boolean> {
  const token = sessionTokenOf(session.cookies);
  if (!token) throw new Error("latchkey: no session token among the cookies");
  // Storage ids are base64url: no glob special characters to escape in MATCH. The key puts the id's
  // slot tag in braces (`s:{tag}digest`), so the digest (the first 22 characters of SHA-256 of the
  // token, as the key layout in docs/internals.md says) is what to look for.
  const pattern = `*${hash("sha256", token, "base64url").slice(0, 22)}*`;
  let cursor = "0";
  do {
    const [next, keys] = await admin.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    if (keys.length > 0) return true;
    cursor = next;
  } while (cursor !== "0");
  return false;
}
