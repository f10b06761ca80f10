// Progress lines for the Job's log while restic works: percent, bytes, files and ETA, at most one
// line per interval (restic reports every second), plus one at the end.

import { formatBytes } from "../api/bytes.ts";
import { formatDuration } from "../config/duration.ts";
import type { BackupStatus, RestoreStatus } from "./messages.ts";

export interface ProgressLine {
  message: string;
  meta: Record<string, number>;
}

export function describeBackupStatus(s: BackupStatus): ProgressLine {
  const pct = (s.percentDone * 100).toFixed(1);
  const eta = s.secondsRemaining !== undefined ? `, ETA ${formatDuration(s.secondsRemaining * 1000)}` : "";
  const errors = s.errorCount > 0 ? `, ${s.errorCount} errors` : "";
  const meta: Record<string, number> = {
    percentDone: s.percentDone,
    bytesDone: s.bytesDone,
    totalBytes: s.totalBytes,
    filesDone: s.filesDone,
    totalFiles: s.totalFiles,
    secondsElapsed: s.secondsElapsed,
  };
  if (s.secondsRemaining !== undefined) meta.secondsRemaining = s.secondsRemaining;
  if (s.errorCount > 0) meta.errorCount = s.errorCount;
  return {
    message: `backup ${pct}%: ${formatBytes(s.bytesDone)} of ${formatBytes(s.totalBytes)}, ${s.filesDone} of ${s.totalFiles} files${eta}${errors}`,
    meta,
  };
}

export function describeRestoreStatus(s: RestoreStatus): ProgressLine {
  const pct = (s.percentDone * 100).toFixed(1);
  // restic gives no ETA for restores; estimate from the rate so far.
  const remaining = s.percentDone > 0 && s.percentDone < 1 && s.secondsElapsed > 0 ? Math.round((s.secondsElapsed * (1 - s.percentDone)) / s.percentDone) : undefined;
  const eta = remaining !== undefined ? `, ETA ${formatDuration(remaining * 1000)}` : "";
  const meta: Record<string, number> = {
    percentDone: s.percentDone,
    bytesRestored: s.bytesRestored,
    totalBytes: s.totalBytes,
    filesRestored: s.filesRestored,
    totalFiles: s.totalFiles,
    secondsElapsed: s.secondsElapsed,
  };
  if (remaining !== undefined) meta.secondsRemaining = remaining;
  return {
    message: `restore ${pct}%: ${formatBytes(s.bytesRestored)} of ${formatBytes(s.totalBytes)}, ${s.filesRestored} of ${s.totalFiles} files${eta}`,
    meta,
  };
}

/** Lets a line through when `intervalMs` has passed since the last one (the first always passes). */
export class Throttle {
  private last: number | undefined;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(intervalMs: number, now: () => number = Date.now) {
    this.intervalMs = intervalMs;
    this.now = now;
  }

  ready(): boolean {
    const t = this.now();
    if (this.last !== undefined && t - this.last < this.intervalMs) return false;
    this.last = t;
    return true;
  }
}
