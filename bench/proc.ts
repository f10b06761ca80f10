// Memory of a process as the kernel accounts it (what a container memory limit is checked against).

import { readFileSync } from "node:fs";

export interface Memory {
  /** Resident set size now, MB. */
  rssMb: number;
  /** Peak resident set size since the process started (VmHWM), MB. */
  peakMb: number;
}

/** /proc/<pid>/<file>; undefined when the process is gone. */
function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return undefined;
  }
}

/** The fields of /proc/<pid>/stat from field 3 on (index = field - 3), whatever the command name holds. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** Parses /proc/<pid>/status; undefined when the process is gone. */
export function readMemory(pid: number): Memory | undefined {
  const text = readProc(pid, "status");
  return text === undefined ? undefined : parseStatus(text);
}

export function parseStatus(text: string): Memory | undefined {
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const rss = kb("VmRSS");
  const hwm = kb("VmHWM");
  if (rss === undefined || hwm === undefined) return undefined;
  return { rssMb: rss / 1024, peakMb: hwm / 1024 };
}

/** CPU time (user + system) the process has used so far, in seconds; undefined when it is gone. */
export function readCpuSeconds(pid: number): number | undefined {
  const stat = readProc(pid, "stat");
  return stat === undefined ? undefined : parseCpuSeconds(stat);
}

/** utime + stime (fields 14 and 15) of /proc/<pid>/stat, at the usual 100 ticks per second. */
export function parseCpuSeconds(stat: string): number | undefined {
  const fields = statFields(stat);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / 100 : undefined;
}

/**
 * When the process started, on performance.now()'s clock (ms): starttime (field 22 of
 * /proc/<pid>/stat, ticks since boot) against /proc/uptime. Undefined when it is gone.
 */
export function processStartedAt(pid: number): number | undefined {
  const stat = readProc(pid, "stat");
  const ticks = stat === undefined ? undefined : parseStartTicks(stat);
  if (ticks === undefined) return undefined;
  const uptimeS = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  return performance.now() - (uptimeS - ticks / 100) * 1000;
}

export function parseStartTicks(stat: string): number | undefined {
  const ticks = Number(statFields(stat)[19]);
  return Number.isFinite(ticks) ? ticks : undefined;
}

/** CPU seconds per named process between two readings. */
export function cpuDelta(before: Record<string, number | undefined>, after: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, end] of Object.entries(after)) {
    const start = before[name];
    if (end !== undefined && start !== undefined) out[name] = end - start;
  }
  return out;
}
