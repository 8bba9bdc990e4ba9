/**
 * The entry point as a process: a bad variable is one line on stderr and a non-zero exit; a good
 * configuration listens, and SIGTERM shuts down cleanly.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

function run(env: Record<string, string>): { child: ChildProcess; stdout: string[]; stderr: string[] } {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => stdout.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
  return { child, stdout, stderr };
}

async function exitCode(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return code;
}

describe("app/main.ts", () => {
  test("a bad variable prints one clear line and exits non-zero", async () => {
    for (const [name, value] of [
      ["PORT", "eighty"],
      ["REDIS_URL", "redis://user:pa55word@host:6379/x"],
      ["LOG_LEVEL", "loud"],
    ] as const) {
      const { child, stdout, stderr } = run({ [name]: value });
      const code = await exitCode(child, 15_000);
      assert.notEqual(code, 0);
      const lines = stderr.join("").trim().split("\n");
      assert.equal(lines.length, 1, stderr.join(""));
      assert.match(lines[0] ?? "", new RegExp(`^latchkey app: invalid configuration: ${name} `));
      assert.doesNotMatch(lines[0] ?? "", /pa55word/);
      assert.equal(stdout.join(""), "");
    }
  });

  test("listens, serves, and shuts down gracefully on SIGTERM", async () => {
    const { child, stdout } = run({ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info" });
    try {
      let url: string | undefined;
      const deadline = Date.now() + 15_000;
      while (url === undefined && Date.now() < deadline) {
        url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout.join(""))?.[1];
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(url, `no listening line in ${stdout.join("")}`);
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: "ok" }, "the public answer is the status alone");
      const home = await fetch(url);
      assert.match(await home.text(), /Sessions are kept in memory: they vanish on restart/);
      assert.match(stdout.join(""), /sessions are kept in memory/);

      child.kill("SIGTERM");
      assert.equal(await exitCode(child, 10_000), 0);
      assert.match(stdout.join(""), /shutting down/);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("METRICS_PORT: metrics on a listener of their own, closed at shutdown", async () => {
    const { child, stdout } = run({ PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "info" });
    try {
      let site: string | undefined;
      let metricsPort: string | undefined;
      const deadline = Date.now() + 15_000;
      while ((site === undefined || metricsPort === undefined) && Date.now() < deadline) {
        const text = stdout.join("");
        site = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
        metricsPort = /"address":\{"address":"127\.0\.0\.1","family":"IPv4","port":(\d+)\}/.exec(text)?.[1];
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(site && metricsPort, `no listening lines in ${stdout.join("")}`);
      assert.equal((await fetch(`${site}/metrics`)).status, 404);
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^# TYPE /m);
      child.kill("SIGTERM");
      assert.equal(await exitCode(child, 10_000), 0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
