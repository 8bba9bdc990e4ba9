// `/`: greets the logged-in user and counts their visits, or shows the login form. A server component:
// it reads the session from the request's headers (one store round trip, the visit counted atomically).
import { cookies, headers } from "next/headers";
import { web } from "../lib/sessions.js";

export default async function Home() {
  const session = web.session(await headers());
  const current = await session.load({ increment: { visits: 1 } });
  if (current === null) {
    return (
      <main>
        <p>You are not logged in.</p>
        <form method="post" action="/login">
          <label>
            Username <input name="username" required maxLength={64} />
          </label>{" "}
          <button type="submit">Log in</button>
        </form>
      </main>
    );
  }
  return (
    <main>
      <p>{`Logged in as ${current.data.username}. Visits: ${current.data.visits ?? 0}`}</p>
      <form action={resetVisits}>
        <button type="submit">Reset the counter</button>
      </form>
      <form method="post" action="/logout">
        <button type="submit">Log out</button>
      </form>
    </main>
  );
}

// A server action: no Request here, so the session is read from `headers()` and its cookie (if a call
// changes it) written through `cookies()`. Next.js refuses cross-site action posts itself; the check
// below is latchkey's same rule, for actions and route handlers alike.
async function resetVisits() {
  "use server";
  const requestHeaders = await headers();
  if (web.isCrossOrigin(requestHeaders)) throw new Error("Cross-origin request refused.");
  const session = web.session(requestHeaders, { cookies: await cookies() });
  await session.set({ visits: 0 });
}
