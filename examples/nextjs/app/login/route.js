// POST /login: starts a session (a fresh token in an HttpOnly cookie) and redirects to `/`.
// `web.handle` refuses cross-site posts (403), answers a store outage with 503 + Retry-After, and adds
// the Set-Cookie to the response.
import { web } from "../../lib/sessions.js";

export function POST(request) {
  return web.handle(request, async (session) => {
    const form = await request.formData();
    // The tutorial's demo: a username and no password. A real app checks a password here.
    const username = String(form.get("username") ?? "").trim();
    if (username === "" || username.length > 64) {
      return new Response("Enter a username of at most 64 characters.", { status: 400 });
    }
    await session.create(username, { data: { username } });
    return new Response(null, { status: 303, headers: { location: "/" } });
  });
}
