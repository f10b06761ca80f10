// `restic restore --json <id> --target DIR`, always with --no-lock: restore Jobs get a SAS that can
// read and list but not write, and a lock is a write.

import type { ItemError, RestoreStatus, RestoreSummary } from "./messages.ts";
import { ERROR_SAMPLES } from "./backup.ts";
import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

export interface RestoreArgs {
  /** A full snapshot id, or `latest` (the wrapper resolves prefixes first). */
  snapshot: string;
  /** With `latest`: the newest snapshot of this host. */
  host?: string;
  target: string;
  includes: string[];
  excludes: string[];
  overwrite?: string;
  deleteExtra?: boolean;
}

export function restoreArgs(a: RestoreArgs): string[] {
  const out = ["restore", a.snapshot, "--target", a.target];
  if (a.host) out.push("--host", a.host);
  for (const p of a.includes) out.push("--include", p);
  for (const p of a.excludes) out.push("--exclude", p);
  if (a.overwrite) out.push("--overwrite", a.overwrite);
  if (a.deleteExtra) out.push("--delete");
  return out;
}

export interface RestoreOutcome {
  run: ResticRun;
  summary?: RestoreSummary;
  errorCount: number;
  errorSamples: ItemError[];
}

export async function runRestore(ctx: ResticContext, a: RestoreArgs, onStatus: (s: RestoreStatus) => void): Promise<RestoreOutcome> {
  let summary: RestoreSummary | undefined;
  let errorCount = 0;
  const errorSamples: ItemError[] = [];
  const run = await runRestic(ctx, restoreArgs(a), {
    noLock: true,
    command: "restore",
    onMessage: (m) => {
      if (m.type === "restore-status") onStatus(m);
      else if (m.type === "restore-summary") summary = m;
      else if (m.type === "error") {
        errorCount++;
        if (errorSamples.length < ERROR_SAMPLES) errorSamples.push(m);
      }
    },
  });
  return summary ? { run, summary, errorCount, errorSamples } : { run, errorCount, errorSamples };
}
