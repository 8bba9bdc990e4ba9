import type { FastifyInstance } from "fastify";

/**
 * A small browser stand-in for in-process tests: `fastify.inject()` with a cookie jar and form posts.
 * Used by the app's tests; not part of the running app.
 */

export interface Page {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  /** The Set-Cookie header values of the response. */
  setCookies: string[];
}

export interface TestClient {
  get(url: string, headers?: Record<string, string>): Promise<Page>;
  /** Posts `form` as application/x-www-form-urlencoded. */
  post(url: string, form?: Record<string, string>, headers?: Record<string, string>): Promise<Page>;
  /** The Cookie header the client would send now (undefined when the jar is empty). */
  readonly cookie: string | undefined;
  /** Replaces the jar's content, e.g. to replay an old token. */
  setCookie(header: string | undefined): void;
}

export function createTestClient(app: FastifyInstance, defaults: Record<string, string> = {}): TestClient {
  const jar = new Map<string, string>();

  const cookieHeader = () =>
    jar.size === 0 ? undefined : [...jar].map(([name, value]) => `${name}=${value}`).join("; ");

  const send = async (
    method: "GET" | "POST",
    url: string,
    payload: string | undefined,
    headers: Record<string, string>,
  ): Promise<Page> => {
    const cookie = cookieHeader();
    const response = await app.inject({
      method,
      url,
      payload,
      headers: {
        "user-agent": "test-client",
        ...defaults,
        ...(payload === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" }),
        ...(cookie === undefined ? {} : { cookie }),
        ...headers,
      },
    });
    const raw = response.headers["set-cookie"];
    const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
    for (const line of setCookies) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      if (/;\s*Max-Age=0\b/i.test(line)) jar.delete(name);
      else jar.set(name, pair.slice(eq + 1));
    }
    return { status: response.statusCode, headers: response.headers, body: response.body, setCookies };
  };

  return {
    get: (url, headers = {}) => send("GET", url, undefined, headers),
    post: (url, form = {}, headers = {}) => send("POST", url, new URLSearchParams(form).toString(), headers),
    get cookie() {
      return cookieHeader();
    },
    setCookie(header) {
      jar.clear();
      for (const part of header?.split(";") ?? []) {
        const eq = part.indexOf("=");
        if (eq > 0) jar.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
      }
    },
  };
}

/** The visit count shown on the home page, or null when the page shows none. */
export function visitsOf(page: Page): number | null {
  const match = /Visits: <strong id="visits">(\d+)<\/strong>/.exec(page.body);
  return match ? Number(match[1]) : null;
}

/** A username nobody else in the test run uses. */
export function uniqueName(prefix = "user"): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}
