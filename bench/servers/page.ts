/**
 * What every benchmarked server shares: the page, HTML escaping, the session semantics (30-minute sliding
 * idle TTL) and how a server child tells the runner where it listens. Kept tiny so that the peers differ
 * only in their session library.
 */

/** Sliding idle timeout of every case, in seconds (30 minutes). */
export const IDLE_TIMEOUT_SECONDS = 1800;

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHTML(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** The benchmarked page: the same bytes from every case. */
export function renderPage(username: string, visits: number): string {
  return `<!doctype html><title>Home</title><p>Logged in as ${escapeHTML(username)}. Visits: ${visits}</p>\n`;
}

export const NOT_LOGGED_IN_PAGE = "<!doctype html><title>Home</title><p>Not logged in.</p>\n";

/** The port and Redis URL a server child was given by the runner. */
export function serverEnv(): { port: number; redisURL: string } {
  const port = Number(process.env.PORT);
  const redisURL = process.env.REDIS_URL;
  if (!Number.isInteger(port) || port <= 0) throw new Error("PORT must be set to a port number");
  if (!redisURL) throw new Error("REDIS_URL must be set");
  return { port, redisURL };
}

/** The username a /login request asks for (`POST /login?username=ada`). */
export function usernameFrom(url: string | undefined): string {
  const name = new URL(url ?? "/", "http://localhost").searchParams.get("username");
  return name && name.length > 0 ? name : "bench-user";
}
