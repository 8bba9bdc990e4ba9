/** A small HTTP/1.1 client on node:http for logins, probes and the correctness checks. */
import { Agent, request as httpRequest } from "node:http";

export interface HTTPResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Bytes of the status line and headers ("HTTP/1.1 200 OK", names, values, separators; ASCII assumed). */
  headerBytes: number;
  /** `name=value` pairs of the Set-Cookie headers. */
  setCookies: Map<string, string>;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  agent?: Agent;
}

/** One keep-alive connection, reused: sequential probes measure one request at a time on it. */
export const sequentialAgent = new Agent({ keepAlive: true, maxSockets: 1 });

export function request(url: string, options: RequestOptions = {}): Promise<HTTPResponse> {
  const { method = "GET", headers = {}, body, agent = sequentialAgent } = options;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        agent,
        headers:
          body === undefined ? headers : { "content-length": String(Buffer.byteLength(body)), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const setCookies = new Map<string, string>();
          for (const line of res.headers["set-cookie"] ?? []) {
            const pair = line.split(";", 1)[0] ?? "";
            const eq = pair.indexOf("=");
            if (eq > 0) setCookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            headerBytes: res.rawHeaders.reduce((sum, part) => sum + part.length + 2, 19),
            setCookies,
          });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A minimal cookie jar: remembers the last value of each cookie, forgets cleared ones. */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  update(response: HTTPResponse): void {
    for (const [name, value] of response.setCookies) {
      if (value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

/** The text of a page without its tags, whitespace collapsed: "Logged in as ada. Visits: 3 ...". */
function textOf(body: string): string {
  return body.replace(/<[^>]*>/g, "").replace(/\s+/g, " ");
}

/** The visit count of a rendered page, or null when the page is not a logged-in page. */
export function visitsOf(body: string): number | null {
  const match = /Logged in as .+?\. Visits: (\d+)/.exec(textOf(body));
  return match ? Number(match[1]) : null;
}

export function isLoggedInPage(body: string): boolean {
  return textOf(body).includes("Logged in as ");
}
