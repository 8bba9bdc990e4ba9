/**
 * The Next.js example (examples/nextjs) as a user runs it: `next build`, then `next start` on a
 * redis-server of its own, checked over HTTP like every example (login, visits counted, logout with
 * the token dead server-side, a cross-site POST refused with 403), plus its server action.
 *
 * The app is built in a temporary project laid out as an install would lay it out: the example's
 * files, the repository's node_modules hard-linked (no copy, no network), and `latchkey` as a package
 * of its own (package.json and dist/lib, which `npm test` builds first). Not in the repository itself:
 * Next.js takes the directory of the nearest lockfile as the workspace root, where `latchkey` would
 * resolve to the repository by self-reference, and then bundles it instead of loading it from
 * node_modules as `serverExternalPackages` says (a user's project has no such second latchkey).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { freePort } from "../harness/redis-process.js";
import { type RedisServerHandle, startRedisServer } from "../harness/redis-servers.js";
import { exerciseExample } from "../package/example-checks.js";
import { ROOT } from "../package/npm.js";
import { expectOneMoreSession } from "../package/redis-sessions.js";

const run = promisify(execFile);
const EXAMPLE = join(ROOT, "examples/nextjs");
const NEXT = join("node_modules", "next", "dist", "bin", "next");
/** Nothing may be fetched or reported: no telemetry, and the build must not need the network. */
const NEXT_ENV = { PATH: process.env.PATH ?? "", NEXT_TELEMETRY_DISABLED: "1", HOME: tmpdir() };

describe("the Next.js example: next build, next start", () => {
  let dir: string;
  let redis: RedisServerHandle;
  let server: ChildProcess | undefined;
  let output = "";
  let url = "";

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "latchkey-nextjs-"));
    for (const entry of ["app", "lib", "next.config.js", "package.json"]) {
      await cp(join(EXAMPLE, entry), join(dir, entry), { recursive: true });
    }
    // Hard links: the same files, no copy (a copy where tmpdir is on another file system than the
    // repository, which hard links cannot cross).
    const modules = join(dir, "node_modules");
    await run("cp", ["-al", join(ROOT, "node_modules"), modules]).catch(async () => {
      await rm(modules, { recursive: true, force: true });
      await run("cp", ["-a", join(ROOT, "node_modules"), modules]);
    });
    const latchkey = join(dir, "node_modules", "latchkey");
    await mkdir(join(latchkey, "dist"), { recursive: true });
    await cp(join(ROOT, "package.json"), join(latchkey, "package.json"));
    await cp(join(ROOT, "dist", "lib"), join(latchkey, "dist", "lib"), { recursive: true });

    const started = Date.now();
    await run(process.execPath, [NEXT, "build"], {
      cwd: dir,
      env: { ...NEXT_ENV, NODE_ENV: "production" },
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`next build failed: ${error.message}\n${error.stdout}\n${error.stderr}`);
    });
    console.log(`next build: ${((Date.now() - started) / 1000).toFixed(1)} s`);

    redis = await startRedisServer();
    const port = await freePort();
    // Its own process group: `next start` runs the server in a child process, which must end with it.
    server = spawn(process.execPath, [NEXT, "start", "--port", String(port), "--hostname", "127.0.0.1"], {
      cwd: dir,
      env: { ...NEXT_ENV, NODE_ENV: "production", REDIS_URL: redis.url },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    server.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    server.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (!/Ready in/.test(output)) {
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`next start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  after(async () => {
    if (server?.pid !== undefined && server.exitCode === null) {
      const exited = once(server, "exit");
      process.kill(-server.pid, "SIGTERM");
      await exited;
    }
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test("sign in, visits counted, sign out, a cross-site POST refused: over HTTP, sessions in Redis", async () => {
    try {
      await exerciseExample(url, { whileLoggedIn: await expectOneMoreSession(redis.url) });
    } catch (error) {
      if (error instanceof Error) error.message += `\n--- next start's output:\n${output}`;
      throw error;
    }
  });

  test("the server action writes through the same session (headers() and cookies())", async () => {
    const login = await fetch(`${url}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "sec-fetch-site": "same-origin", "content-type": "application/x-www-form-urlencoded" },
      body: "username=ada",
    });
    assert.equal(login.status, 303);
    const cookie = (login.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
    const page = async () => (await fetch(url, { headers: { cookie } })).text();
    await page();
    const home = await page();
    assert.match(home, /Visits: 2\b/);
    // A browser without JavaScript posts the action's form as multipart, naming the action in a field.
    const field = /name="(\$ACTION_ID_[0-9a-f]+)"/.exec(home)?.[1];
    assert.ok(field, `the page has a server action form: ${home.slice(0, 2000)}`);
    const form = new FormData();
    form.set(field, "");
    const action = await fetch(url, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, origin: url, "sec-fetch-site": "same-origin" },
      body: form,
    });
    const answer = await action.text();
    assert.equal(action.status, 200, `the action ran: ${answer.slice(0, 500)}\n${output}`);
    // Without JavaScript, Next.js answers the action with the page, rendered after it: one more view.
    assert.match(answer, /Visits: 1\b/, "reset to 0, then the page's own view counted");
    assert.match(await page(), /Visits: 2\b/);

    const crossSite = await fetch(url, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, origin: "https://attacker.example", "sec-fetch-site": "cross-site" },
      body: form,
    });
    assert.ok(crossSite.status >= 400, `a cross-site action is refused, got ${crossSite.status}`);
    assert.match(await page(), /Visits: 3\b/, "the refused action reset nothing");
  });
});
