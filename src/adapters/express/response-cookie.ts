import type { ServerResponse } from "node:http";

/**
 * Adds a cookie to the response's Set-Cookie, replacing one of the same name this request set before,
 * and marks the response `Cache-Control: no-store` (a shared cache must never hand a session cookie to
 * another client). Too late once the headers are sent: the session changed in the store all the same.
 */
export function setSessionCookie(res: ServerResponse, value: string): void {
  if (res.headersSent) return;
  const name = value.slice(0, value.indexOf("=") + 1);
  const current = res.getHeader("set-cookie");
  const others = (current === undefined ? [] : Array.isArray(current) ? current : [String(current)]).filter(
    (cookie) => !cookie.startsWith(name),
  );
  res.setHeader("set-cookie", [...others, value]);
  res.setHeader("cache-control", "no-store");
}
