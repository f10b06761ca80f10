// `restic backup --json`, run from inside the volume with relative paths so the snapshot holds the
// volume's content relative to its root, whatever directory it was mounted at.

import type { BackupStatus, BackupSummary, ItemError } from "./messages.ts";
import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

export interface BackupArgs {
  /** Paths relative to the working directory (the volume root); "." is all of it. */
  paths: string[];
  excludes: string[];
  host: string;
  tags: string[];
}

/**
 * restic groups by host and tags (not paths) to find the parent snapshot, so the parent is found
 * even when the volume's mount directory differs between runs, and matches how retention groups.
 */
export function backupArgs(a: BackupArgs): string[] {
  const out = ["backup", "--host", a.host, "--group-by", "host,tags"];
  for (const t of a.tags) out.push("--tag", t);
  for (const e of a.excludes) out.push("--exclude", e);
  out.push("--", ...(a.paths.length > 0 ? a.paths : ["."]));
  return out;
}

/** How many per-file errors to keep verbatim for the result. */
export const ERROR_SAMPLES = 10;

export interface BackupOutcome {
  run: ResticRun;
  summary?: BackupSummary;
  errorCount: number;
  errorSamples: ItemError[];
}

export async function runBackup(ctx: ResticContext, a: BackupArgs, cwd: string, onStatus: (s: BackupStatus) => void): Promise<BackupOutcome> {
  let summary: BackupSummary | undefined;
  let errorCount = 0;
  const errorSamples: ItemError[] = [];
  const run = await runRestic(ctx, backupArgs(a), {
    cwd,
    command: "backup",
    onMessage: (m) => {
      if (m.type === "backup-status") onStatus(m);
      else if (m.type === "backup-summary") summary = m;
      // The scanner only sizes the work ahead for progress, and restic reports what it could not read
      // again while archiving (with the same item): counted once, from the archiver.
      else if (m.type === "error" && m.during !== "scan") {
        errorCount++;
        if (errorSamples.length < ERROR_SAMPLES) errorSamples.push(m);
      }
    },
  });
  return summary ? { run, summary, errorCount, errorSamples } : { run, errorCount, errorSamples };
}
