import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { redisCommandCalls, startRedisCluster, startRedisServer } from "./redis-servers.js";
import { RespError, respCommand } from "./resp-client.js";

describe("test harness: redis-server processes", () => {
  it("starts a server on a free port, counts its commands, and stops it", async () => {
    const server = await startRedisServer();
    assert.equal(server.url, `redis://127.0.0.1:${server.port}`);
    assert.notEqual(server.port, 6379, "never the shared Redis");
    assert.equal(await respCommand({ host: "127.0.0.1", port: server.port }, "PING"), "PONG");
    const before = await redisCommandCalls(server.url);
    await respCommand({ host: "127.0.0.1", port: server.port }, "SET", "k", "v");
    const after = await redisCommandCalls(server.url);
    assert.equal((after.set ?? 0) - (before.set ?? 0), 1);
    assert.equal(
      await respCommand({ host: "127.0.0.1", port: server.port }, "CONFIG", "GET", "save").then(String),
      "save,",
      "no snapshots",
    );
    await server.stop();
    await server.stop();
    await assert.rejects(respCommand({ host: "127.0.0.1", port: server.port }, "PING"));
  });

  it("passes extra arguments, reads stats with URL credentials, and restarts on a pinned port", async () => {
    const server = await startRedisServer({ args: ["--requirepass", "pw"] });
    const noAuth = await respCommand({ host: "127.0.0.1", port: server.port }, "PING");
    assert.ok(noAuth instanceof RespError && noAuth.message.startsWith("NOAUTH"));
    const calls = await redisCommandCalls(`redis://:pw@127.0.0.1:${server.port}`);
    assert.equal(calls.auth, 1);
    await server.stop();
    const again = await startRedisServer({ args: ["--port", String(server.port)] });
    assert.equal(again.port, server.port);
    await again.stop();
  });

  it("fails clearly when a pinned port is taken", async () => {
    const server = await startRedisServer();
    await assert.rejects(
      startRedisServer({ args: ["--port", String(server.port)] }),
      /exited while starting/,
    );
    await server.stop();
  });

  it("says how to install redis-server when it is not on PATH", async () => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      await assert.rejects(
        startRedisServer(),
        /redis-server not found: install it with `apt-get install redis-server`/,
      );
      await assert.rejects(startRedisCluster(), /redis-cli not found/);
    } finally {
      process.env.PATH = path;
    }
  });

  it("kills its servers when the test process dies, even by SIGKILL", () => {
    const script = [
      `import { startRedisServer } from ${JSON.stringify(new URL("./redis-servers.ts", import.meta.url).href)};`,
      "const server = await startRedisServer();",
      "console.log(server.port);",
      'process.kill(process.pid, "SIGKILL");',
    ].join("\n");
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 20_000,
    });
    const port = Number(child.stdout.trim());
    assert.ok(port > 0, `the child printed no port: ${child.stderr}`);
    // The watchdog notices the closed pipe and stops the server at once.
    const deadline = Date.now() + 3000;
    const check = async (): Promise<void> => {
      for (;;) {
        const alive = await respCommand({ host: "127.0.0.1", port }, "PING").then(
          () => true,
          () => false,
        );
        if (!alive) return;
        assert.ok(Date.now() < deadline, `redis-server on ${port} outlived its test process`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    return check();
  });

  it("starts a 3-master cluster with every slot served", async () => {
    const cluster = await startRedisCluster();
    assert.equal(cluster.ports.length, 3);
    for (const port of cluster.ports) {
      const info = String(await respCommand({ host: "127.0.0.1", port }, "CLUSTER", "INFO"));
      assert.match(info, /cluster_state:ok/);
      assert.match(info, /cluster_slots_assigned:16384/);
      assert.match(info, /cluster_known_nodes:3/);
    }
    await cluster.stop();
  });
});
