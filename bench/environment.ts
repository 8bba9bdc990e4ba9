/** The machine and software a run measured: printed at the top of every report. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { wrkVersion } from "./load.js";
import { parseInfo } from "./redis-stats.js";

export interface Environment {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  redis: string;
  loadTool: string;
  packages: Record<string, string>;
  commit: string;
}

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PACKAGES = [
  "express",
  "express-session",
  "connect-redis",
  "redis",
  "fastify",
  "@fastify/session",
  "@fastify/cookie",
  "ioredis",
];

function versionOf(name: string): string {
  try {
    const text = readFileSync(`${ROOT}node_modules/${name}/package.json`, "utf8");
    return (JSON.parse(text) as { version: string }).version;
  } catch {
    return "not installed";
  }
}

function quiet(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, {
      encoding: "utf8",
      cwd: ROOT,
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return "?";
  }
}

export async function describeEnvironment(admin: Redis): Promise<Environment> {
  const server = parseInfo(await admin.info("server"));
  const latchkey = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { version: string };
  const dirty = quiet("git", ["status", "--porcelain", "--untracked-files=no"]) !== "";
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? "?",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: quiet("uname", ["-srm"]),
    node: process.version,
    redis: server.redis_version ?? "?",
    loadTool: wrkVersion(),
    packages: {
      latchkey: latchkey.version,
      ...Object.fromEntries(PACKAGES.map((name) => [name, versionOf(name)])),
    },
    commit: `${quiet("git", ["rev-parse", "--short", "HEAD"])}${dirty ? " (with uncommitted changes)" : ""}`,
  };
}
