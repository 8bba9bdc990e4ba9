/**
 * CPU time and resident memory of a child process, read from /proc so that the server under test is
 * measured from outside, without any code of its own.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Fields 3 and on of /proc/<pid>/stat (the command name, field 2, may contain spaces). */
function statFields(pid: number | "self"): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

const ticksToMicros = (ticks: number): number => (ticks * 1e6) / ticksPerSecond();

export interface CPUTimes {
  /** Time running the process's own code (JavaScript, V8, libuv), in microseconds. */
  user: number;
  /** Time in the kernel on its behalf (socket reads and writes, mostly), in microseconds. */
  system: number;
}

/** User and system CPU time the process has used so far. */
export function cpuTimes(pid: number): CPUTimes {
  const fields = statFields(pid);
  // Fields 14 (utime) and 15 (stime) of proc(5), counted from field 3 here.
  return { user: ticksToMicros(Number(fields[11])), system: ticksToMicros(Number(fields[12])) };
}

/**
 * CPU time of this process plus its finished children (utime, stime, cutime, cstime): the runner and
 * every load generator it has waited for.
 */
export function ownAndChildrenCPUMicros(): number {
  const fields = statFields("self");
  return ticksToMicros(Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]));
}

/** CPU time all cores of the machine have spent busy (not idle, not waiting for I/O), from /proc/stat. */
export function machineBusyMicros(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is in user already)
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ticksToMicros(
    (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0),
  );
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}
