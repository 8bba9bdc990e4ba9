import type { FastifyReply, FastifyRequest } from "fastify";
import { readCookie, serializeCookie } from "latchkey/http";
import { isHTTPS } from "./security-headers.js";
import { THEMES, type Theme } from "./views/layout.js";

/** The cookie that holds a visitor's colour theme: a preference of this browser, not of a session. */
export const THEME_COOKIE = "theme";

/** A year: a preference outlives any session. */
const THEME_MAX_AGE_SECONDS = 365 * 24 * 3600;

/** A theme as sent in a form or a cookie, or "auto" for anything else. */
export function themeOf(value: unknown): Theme {
  return THEMES.find((theme) => theme === value) ?? "auto";
}

/** The request's theme, from its `theme` cookie ("auto" when absent or not one of THEMES). */
export function themeOfRequest(request: FastifyRequest): Theme {
  return themeOf(readCookie(request.headers.cookie, THEME_COOKIE));
}

/**
 * Keeps `theme` in the browser's `theme` cookie, written by no store: choosing a theme costs the server
 * nothing, so it cannot be used to fill the session store (it started an anonymous session per choice
 * before). SameSite=Lax, HttpOnly (no script reads it), Secure over HTTPS; "auto" clears it.
 */
export function setThemeCookie(request: FastifyRequest, reply: FastifyReply, theme: Theme): void {
  const attributes = { secure: isHTTPS(request), sameSite: "lax" as const, path: "/" };
  const cookie =
    theme === "auto"
      ? serializeCookie(THEME_COOKIE, "", { ...attributes, maxAgeSeconds: 0 })
      : serializeCookie(THEME_COOKIE, theme, { ...attributes, maxAgeSeconds: THEME_MAX_AGE_SECONDS });
  reply.header("set-cookie", cookie);
}
