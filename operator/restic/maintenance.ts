// restic commands of the maintenance Jobs: `check` (read-only, --no-lock, optionally reading a
// subset of the data) and `forget <id>` of one snapshot (with --prune when asked).

import type { ResticContext, ResticRun } from "./runner.ts";
import { runRestic } from "./runner.ts";

/** restic's --read-data-subset: a percentage (0 < p ≤ 100, decimals allowed) or n/t (1 ≤ n ≤ t). */
export function validReadDataSubset(s: string): boolean {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (pct) return Number(pct[1]) > 0 && Number(pct[1]) <= 100;
  const nt = /^(\d+)\/(\d+)$/.exec(s);
  return !!nt && Number(nt[1]) >= 1 && Number(nt[1]) <= Number(nt[2]);
}

export function checkArgs(subset: string | undefined): string[] {
  return subset ? ["check", `--read-data-subset=${subset}`] : ["check"];
}

export interface CheckRun {
  run: ResticRun;
  /** restic's own words about what is damaged (its error messages, in order), at most 50. */
  errors: string[];
  errorCount: number;
}

const MAX_KEPT_ERRORS = 50;

export async function runCheck(ctx: ResticContext, subset: string | undefined): Promise<CheckRun> {
  const errors: string[] = [];
  let errorCount = 0;
  const run = await runRestic(ctx, checkArgs(subset), {
    noLock: true,
    onMessage: (m) => {
      if (m.type !== "error") return;
      errorCount++;
      const text = m.message.trim();
      if (text && errors.length < MAX_KEPT_ERRORS) errors.push(text);
    },
  });
  return { run, errors, errorCount };
}

/** Whether a failed check found damage (rather than failing to look: network, credentials, …). */
export function checkFoundDamage(c: CheckRun): boolean {
  return c.run.exitCode === 1 && (c.errorCount > 0 || /repository contains errors/.test(c.run.exitError?.message ?? ""));
}

export function forgetSnapshotArgs(id: string, prune: boolean): string[] {
  return ["forget", ...(prune ? ["--prune"] : []), id];
}

export function runForgetSnapshot(ctx: ResticContext, id: string, prune: boolean): Promise<ResticRun> {
  return runRestic(ctx, forgetSnapshotArgs(id, prune));
}

/** restic's answer for an id it does not have: the snapshot is already gone, which is what was asked. */
export function snapshotAlreadyGone(run: ResticRun): boolean {
  const text = [run.exitError?.message ?? "", ...run.textTail].join("\n");
  return /no matching ID found|does not exist|unable to find snapshot|invalid id/i.test(text);
}
