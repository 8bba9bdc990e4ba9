// POST /logout: ends the session in the store and clears the cookie.
import { web } from "../../lib/sessions.js";

export function POST(request) {
  return web.handle(request, async (session) => {
    await session.destroy();
    return new Response(null, { status: 303, headers: { location: "/" } });
  });
}
