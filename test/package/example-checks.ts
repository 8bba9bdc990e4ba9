import assert from "node:assert/strict";

/**
 * What every example must do, over real HTTP as a browser would: the logged-out page, login, a visit
 * counter that counts 1, 2, 3, logout (the old token dead on the server, not just forgotten), and a
 * cross-site POST refused with 403.
 */

/** Tags and quotes, so the page must escape it. */
const USERNAME = `Ada <b>"O'Brien"</b> & co`;

export interface ExampleCheckOptions {
  /** Called while logged in, e.g. to see the session in Redis. */
  whileLoggedIn?: () => Promise<void>;
}

interface Reply {
  status: number;
  location: string | null;
  setCookies: string[];
  body: string;
}

export async function exerciseExample(baseURL: string, options: ExampleCheckOptions = {}): Promise<void> {
  const send = async (method: "GET" | "POST", path: string, init: RequestInit = {}): Promise<Reply> => {
    const response = await fetch(new URL(path, baseURL), { method, redirect: "manual", ...init });
    return {
      status: response.status,
      location: response.headers.get("location"),
      setCookies: response.headers.getSetCookie(),
      body: await response.text(),
    };
  };
  // A browser's same-origin form post.
  const sameOrigin = { "sec-fetch-site": "same-origin", origin: baseURL };
  const form = (fields: Record<string, string>) => ({
    "content-type": "application/x-www-form-urlencoded",
    body: new URLSearchParams(fields).toString(),
  });

  const loggedOut = await send("GET", "/");
  assert.equal(loggedOut.status, 200, loggedOut.body);
  assertLoggedOut(loggedOut.body);

  const { body, ...formHeaders } = form({ username: USERNAME });
  const login = await send("POST", "/login", { headers: { ...sameOrigin, ...formHeaders }, body });
  assert.equal(login.status, 303, login.body);
  assert.equal(login.location, "/");
  assert.equal(login.setCookies.length, 1, `one Set-Cookie at login: ${login.setCookies.join(" | ")}`);
  const [setCookie = ""] = login.setCookies;
  assert.match(setCookie, /; HttpOnly/i);
  const cookie = setCookie.split(";")[0] ?? "";
  assert.match(cookie, /^[^=]+=.+/);

  if (options.whileLoggedIn) await options.whileLoggedIn();
  for (const visits of [1, 2, 3]) {
    const home = await send("GET", "/", { headers: { cookie } });
    assert.equal(home.status, 200, home.body);
    assert.equal(loggedInAs(home.body), USERNAME, home.body);
    assert.ok(!home.body.includes("<b>"), `the username is escaped: ${home.body}`);
    assert.match(home.body, new RegExp(`Visits: ${visits}\\b`), `view ${visits}: ${home.body}`);
  }

  const logout = await send("POST", "/logout", { headers: { ...sameOrigin, cookie } });
  assert.equal(logout.status, 303, logout.body);
  assert.equal(logout.location, "/");
  assert.ok(
    logout.setCookies.some((line) => line.startsWith(`${cookie.split("=")[0]}=;`) && /Max-Age=0/i.test(line)),
    `logout clears the cookie: ${logout.setCookies.join(" | ")}`,
  );
  // The browser forgot the cookie; the old token must also be dead on the server.
  assertLoggedOut((await send("GET", "/")).body);
  const replayed = await send("GET", "/", { headers: { cookie } });
  assert.equal(replayed.status, 200, replayed.body);
  assertLoggedOut(replayed.body);

  const crossSite = await send("POST", "/login", {
    headers: { "sec-fetch-site": "cross-site", origin: "https://attacker.example", ...formHeaders },
    body,
  });
  assert.equal(crossSite.status, 403, crossSite.body);
  assert.deepEqual(crossSite.setCookies, [], "a refused login sets no cookie");
}

function assertLoggedOut(body: string): void {
  assert.match(body, /not logged in/i);
  // In either order: React writes a form's attributes in its own order.
  assert.match(body, /<form (?=[^>]*method="post")(?=[^>]*action="\/login")[^>]*>/);
  assert.match(body, /name="username"/);
  assert.equal(loggedInAs(body), undefined, body);
}

/** The NAME of "Logged in as NAME.", with HTML entities decoded. */
function loggedInAs(body: string): string | undefined {
  const escaped = /Logged in as (.*?)\. Visits:/s.exec(body)?.[1];
  return escaped === undefined ? undefined : decodeEntities(escaped);
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(html: string): string {
  return html.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, name: string) => {
    if (name.startsWith("#x") || name.startsWith("#X"))
      return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(Number(name.slice(1)));
    return NAMED[name.toLowerCase()] ?? entity;
  });
}
