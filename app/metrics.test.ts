/**
 * The app's metrics for Prometheus: served on METRICS_PORT's own listener (the site's /metrics stays
 * 404), scraped by a real Prometheus (Debian's `prometheus`) and queried through its HTTP API; and the
 * audit log lines of the same session events, by public id only.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { freePort, requireExecutable } from "../test/harness/redis-process.js";
import { buildApp } from "./app.js";
import { DEFAULT_CONFIG } from "./config.js";
import { type MetricsServer, startMetricsServer } from "./metrics-server.js";
import { createTestClient, uniqueName } from "./test-client.js";

const PASSWORD = "correct horse battery";

function prometheusPath(): string | undefined {
  try {
    return requireExecutable("prometheus");
  } catch {
    return undefined;
  }
}

async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await check().catch(() => undefined);
    if (found !== undefined) return found;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("metrics and audit lines", () => {
  let app: FastifyInstance;
  let metrics: MetricsServer;
  const lines: Record<string, unknown>[] = [];
  const tokens: string[] = [];
  let metricsURL: string;

  before(async () => {
    metrics = await startMetricsServer({ port: 0, host: "127.0.0.1" });
    metricsURL = `http://127.0.0.1:${metrics.address.port}/metrics`;
    app = await buildApp(DEFAULT_CONFIG, {
      logStream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    // Two sign-ups, a logout and a login: three sessions created, one ended.
    for (let i = 0; i < 2; i++) {
      const browser = createTestClient(app);
      const username = uniqueName();
      assert.equal((await browser.post("/signup", { username, password: PASSWORD })).status, 303);
      tokens.push(browser.cookie ?? "");
      if (i === 0) {
        assert.equal((await browser.get("/")).status, 200);
        assert.equal((await browser.post("/logout")).status, 303);
        assert.equal((await browser.post("/login", { username, password: PASSWORD })).status, 303);
        tokens.push(browser.cookie ?? "");
      }
    }
  });
  after(async () => {
    await app?.close();
    await metrics?.close();
  });

  test("GET /metrics on the metrics listener, 404 on the site's port", async () => {
    const text = await (await fetch(metricsURL)).text();
    assert.match(text, /^latchkey_session_created_total\{[^}]*latchkey_session_kind="user"[^}]*\} [3-9]/m);
    assert.match(text, /^latchkey_session_destroyed_total\{[^}]*latchkey_session_end_reason="logout"/m);
    assert.match(text, /^latchkey_session_load_total\{[^}]*latchkey_load_result="found"/m);
    assert.match(text, /^latchkey_store_duration_seconds_bucket\{[^}]*latchkey_store_operation="create"/m);
    assert.equal((await app.inject({ method: "GET", url: "/metrics" })).statusCode, 404);
    const other = await fetch(metricsURL.replace("/metrics", "/"));
    assert.equal(other.status, 404);
  });

  test("one audit line per session event, by public id, never with a token", () => {
    const audit = lines.filter((line) => typeof line.audit === "string");
    const kinds = audit.map((line) => line.audit);
    assert.ok(kinds.includes("session.destroyed"), JSON.stringify(kinds));
    assert.ok(kinds.filter((kind) => kind === "session.created" || kind === "session.promoted").length >= 3);
    for (const line of audit) assert.match(String(line.session), /^[A-Za-z0-9_-]{16}$/);
    const text = JSON.stringify(lines);
    for (const cookie of tokens) {
      const token = cookie.split("=")[1] ?? "";
      assert.ok(token.length > 20, "a session cookie was set");
      assert.ok(!text.includes(token), "no log line holds a token");
    }
  });

  test("a real Prometheus scrapes it and answers queries", { timeout: 60_000 }, async (t) => {
    const binary = prometheusPath();
    if (binary === undefined) {
      t.skip("missing dependency: prometheus (apt-get install prometheus)");
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), "latchkey-prometheus-"));
    const port = await freePort();
    const config = [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "scrape_configs:",
      "  - job_name: latchkey-app",
      "    static_configs:",
      `      - targets: ["127.0.0.1:${metrics.address.port}"]`,
      "",
    ].join("\n");
    await writeFile(join(dir, "prometheus.yml"), config);
    let output = "";
    const prometheus: ChildProcess = spawn(
      binary,
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    prometheus.stdout?.on("data", (chunk) => (output += chunk));
    prometheus.stderr?.on("data", (chunk) => (output += chunk));
    const exited = new Promise((resolve) => prometheus.once("exit", resolve));
    try {
      const query = async (expression: string) => {
        const url = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expression)}`;
        const body = (await (await fetch(url)).json()) as {
          status: string;
          data: { result: { metric: Record<string, string>; value: [number, string] }[] };
        };
        assert.equal(body.status, "success");
        return body.data.result;
      };
      const created = await eventually("a scrape with the created sessions", 20_000, async () => {
        const result = await query('sum(latchkey_session_created_total{job="latchkey-app"})');
        const value = Number(result[0]?.value[1]);
        return value >= 3 ? value : undefined;
      });
      assert.ok(created >= 3);
      const logouts = await query('latchkey_session_destroyed_total{latchkey_session_end_reason="logout"}');
      assert.equal(logouts[0]?.value[1], "1");
      const p99 = await query(
        "histogram_quantile(0.99, sum by (le, latchkey_store_operation) (latchkey_store_duration_seconds_bucket))",
      );
      assert.ok(
        p99.some((series) => series.metric.latchkey_store_operation === "create"),
        JSON.stringify(p99),
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nprometheus output:\n${output.slice(-2000)}`);
    } finally {
      prometheus.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
