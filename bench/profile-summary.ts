/**
 * Summarises a V8 .cpuprofile (from `npm run bench -- --cpu-prof latchkey`): where the server's time
 * goes, by function and by file, self and inclusive, as % of all samples.
 *
 * Usage: node dist/bench/profile-summary.js FILE.cpuprofile [--top N] [--match TEXT]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

const args = process.argv.slice(2);
const file = args[0];
if (!file) {
  console.error("usage: profile-summary FILE.cpuprofile [--top N] [--match TEXT]");
  process.exit(2);
}
const topIndex = args.indexOf("--top");
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 30;
const matchIndex = args.indexOf("--match");
const match = matchIndex >= 0 ? args[matchIndex + 1] : undefined;

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
/** Percentages are of busy samples: a server is idle whenever another case is under load. */
const total = profile.samples.filter((id) => !idleIds.has(id)).length;
const selfHits = new Map<number, number>();
for (const id of profile.samples) if (!idleIds.has(id)) selfHits.set(id, (selfHits.get(id) ?? 0) + 1);

/** Shortens a URL to what says where code lives: node_modules/<pkg>/…, dist/…, node:… */
function where(url: string): string {
  if (url === "") return "(native)";
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) return url.slice(modules + "node_modules/".length);
  const dist = url.indexOf("/dist/");
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, "");
}

function packageOf(url: string): string {
  const w = where(url);
  if (w.startsWith("dist/")) return w.split("/").slice(0, 3).join("/");
  if (w.startsWith("node:") || w === "(native)") return w.split("/")[0] as string;
  const parts = w.split("/");
  return (w.startsWith("@") ? parts.slice(0, 2) : parts.slice(0, 1)).join("/");
}

const label = (n: ProfileNode): string =>
  `${n.callFrame.functionName || "(anonymous)"} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

// Inclusive hits: each node's self hits plus its subtree's, counted once per function per stack.
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map<string, number>();
for (const [id, hits] of selfHits) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const node = byId.get(cur);
    if (!node) break;
    const key = label(node);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + hits);
  }
}

const self = new Map<string, number>();
const perPackage = new Map<string, number>();
for (const [id, hits] of selfHits) {
  const node = byId.get(id);
  if (!node) continue;
  self.set(label(node), (self.get(label(node)) ?? 0) + hits);
  const pkg = node.callFrame.url ? packageOf(node.callFrame.url) : node.callFrame.functionName;
  perPackage.set(pkg, (perPackage.get(pkg) ?? 0) + hits);
}

const pct = (n: number): string => `${((100 * n) / total).toFixed(1).padStart(5)}%`;
const print = (title: string, entries: Map<string, number>, filter?: string): void => {
  console.log(`\n## ${title}`);
  [...entries]
    .filter(([k]) => filter === undefined || k.includes(filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([k, v]) => {
      console.log(`${pct(v)}  ${k}`);
    });
};

/** The code that owns a frame: a file of ours, or a package; undefined for Node's own code and natives. */
function ownerOf(url: string): string | undefined {
  if (url === "" || url.startsWith("node:")) return undefined;
  const w = where(url);
  if (w.startsWith("dist/")) return w;
  return packageOf(url);
}

/**
 * Self time by owner, with Node's internals and native code (syscalls, hashing, buffers) charged to the
 * nearest caller that is ours or a package's: "who made the machine do this work".
 */
const byOwner = new Map<string, number>();
for (const [id, hits] of selfHits) {
  let owner: string | undefined;
  const leaf = byId.get(id);
  for (let cur: number | undefined = id; cur !== undefined && owner === undefined; cur = parent.get(cur)) {
    owner = ownerOf(byId.get(cur)?.callFrame.url ?? "");
  }
  const leafName = leaf?.callFrame.functionName ?? "";
  const key = owner ?? (leafName.startsWith("(") ? leafName : "node (no caller of ours)");
  byOwner.set(key, (byOwner.get(key) ?? 0) + hits);
}

/** Native frames that are system calls on sockets: the "system" part of the CPU time. */
const SOCKET_CALLS = new Set([
  "writev",
  "writeUtf8String",
  "writeLatin1String",
  "writeBuffer",
  "writeAsciiString",
]);
const byOwnerUser = new Map<string, number>();
let userTotal = 0;
for (const [id, hits] of selfHits) {
  if (SOCKET_CALLS.has(byId.get(id)?.callFrame.functionName ?? "")) continue;
  userTotal += hits;
}
for (const [key, hits] of byOwner) byOwnerUser.set(key, hits);
for (const [id, hits] of selfHits) {
  if (!SOCKET_CALLS.has(byId.get(id)?.callFrame.functionName ?? "")) continue;
  let owner: string | undefined;
  for (let cur: number | undefined = id; cur !== undefined && owner === undefined; cur = parent.get(cur)) {
    owner = ownerOf(byId.get(cur)?.callFrame.url ?? "");
  }
  const key = owner ?? "node (no caller of ours)";
  byOwnerUser.set(key, (byOwnerUser.get(key) ?? 0) - hits);
}

console.log(`${total} busy samples of ${profile.samples.length}; percentages are of busy samples`);
print("self time by owner (Node internals and natives charged to their caller)", byOwner);
console.log(
  `\n## the same without socket system calls (${userTotal} samples: % of those, i.e. of user-space time)`,
);
[...byOwnerUser]
  .sort((a, b) => b[1] - a[1])
  .slice(0, top)
  .forEach(([k, v]) => {
    console.log(`${((100 * v) / (userTotal || 1)).toFixed(1).padStart(5)}%  ${k}`);
  });
print("self time by package or file group", perPackage);
print("self time by function", self, match);
print("inclusive time by function", inclusive, match);
