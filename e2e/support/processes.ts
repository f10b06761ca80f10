// What tests ask about processes and the operator's log.

import { readFileSync } from "node:fs";

/**
 * Whether the process runs. A zombie (exited, not yet reaped: where PID 1 does not reap, as in this
 * sandbox, processes re-parented to it stay zombies) counts as gone, although kill(pid, 0) succeeds on it.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

export interface LogLine {
  message?: string;
  timestamp?: string;
}

/** The operator's log (one JSON object per line), lines that are not JSON left out. */
export function logLines(op: { log(): string }): LogLine[] {
  return op
    .log()
    .split("\n")
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
}
