/**
 * What the bench's own servers share: the page, the session semantics (30-minute sliding idle TTL) and
 * their environment. Kept tiny so that the peers differ only in their session library.
 */

import { homePage } from "../../app/views/home.js";

/** Sliding idle timeout of every case, in seconds (30 minutes). */
export const IDLE_TIMEOUT_SECONDS = 1800;

/**
 * The benchmarked page, byte for byte the reference app's home page for a logged-in user (its view, its
 * HTML escaping), so that every case renders and sends the same page and the cases differ only in how
 * they keep the session.
 */
export function renderPage(username: string, visits: number): string {
  return homePage(
    { username, inMemory: false },
    { username, visits, idleTimeoutSeconds: IDLE_TIMEOUT_SECONDS },
  ).toString();
}

export const NOT_LOGGED_IN_PAGE = "<!doctype html><title>Home</title><p>Not logged in.</p>\n";

/**
 * Exits cleanly on SIGTERM (the runner's stop), so that `node --cpu-prof` writes its profile: a process
 * killed by the default SIGTERM action writes none.
 */
export function exitOnSIGTERM(): void {
  process.once("SIGTERM", () => process.exit(0));
}

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
