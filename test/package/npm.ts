import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const run = promisify(execFile);

/**
 * The environment for child npm and node processes. An `npm test` run exports its own project to its
 * scripts (npm_config_local_prefix, npm_package_*), which would point a nested `npm install` at the
 * repository instead of the temporary project.
 */
function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^npm_(config_local_prefix|package_|lifecycle_|command$)/i.test(name),
    ),
  );
}

/** Runs a command and resolves with its stdout; the error names the command and carries its output. */
export async function runCommand(
  file: string,
  args: readonly string[],
  { cwd, timeoutMs = 180_000 }: { cwd: string; timeoutMs?: number },
): Promise<string> {
  try {
    const { stdout } = await run(file, args, {
      cwd,
      env: childEnv(),
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stdout = "", stderr = "", message } = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(" ")} (in ${cwd}) failed: ${message}\n${stdout}\n${stderr}`);
  }
}

/** `npm <args>` in `cwd`. */
export function npm(args: readonly string[], cwd: string): Promise<string> {
  return runCommand("npm", args, { cwd });
}

/**
 * `npm pack` of the repository into `destination`, which builds the library first (prepack runs
 * `build:lib`, whatever the user's ignore-scripts setting). Resolves with the tarball's path.
 */
export async function packRepository(destination: string): Promise<string> {
  await npm(["pack", "--ignore-scripts=false", "--pack-destination", destination], ROOT);
  const tarballs = (await readdir(destination)).filter((name) => name.endsWith(".tgz"));
  if (tarballs.length !== 1) throw new Error(`npm pack made ${tarballs.join(", ") || "no tarball"}`);
  return join(destination, tarballs[0] as string);
}

/** The version of `name` in the repository's package-lock.json (what `npm ci` installed). */
export function lockedVersion(
  lock: { packages: Record<string, { version?: string }> },
  name: string,
): string {
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (version === undefined) throw new Error(`${name} is not in the repository's package-lock.json`);
  return version;
}
