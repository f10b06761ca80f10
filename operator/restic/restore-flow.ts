// The restore Job's work: resolve the snapshot (`latest` or an id prefix, with the host filter and,
// for a session restoring from another namespace's Repository, only that namespace's snapshots) to
// one id with `snapshots`, so the result names exactly what was restored and a missing snapshot is
// reported as such, and `restore` it into the target (at the same time when the spec already names
// one snapshot and nothing else filters). Every restic command runs with --no-lock.

import { mkdir } from "node:fs/promises";
import { takenInNamespace } from "../api/backup.ts";
import type { JobResult } from "../api/result.ts";
import { logger } from "../observability/logger.ts";
import { makeScratchDirs } from "./backup-flow.ts";
import type { RestorePlan } from "./flags.ts";
import type { RestoreStatus } from "./messages.ts";
import { describeRestoreStatus, Throttle } from "./progress.ts";
import { EXIT_OK } from "./reasons.ts";
import { runRestore } from "./restore.ts";
import { runSnapshots } from "./snapshots.ts";
import type { ResticContext } from "./runner.ts";
import { errorSamplesOf, problem, problemOf, resticContext, verdict, type FlowDeps, type Problem } from "./steps.ts";

export async function restoreFlow(plan: RestorePlan, deps: FlowDeps): Promise<JobResult> {
  const started = deps.now();
  const ctx = resticContext(plan, deps);
  const problems: Problem[] = [];
  const done = (outcome: JobResult["outcome"], extra: Partial<JobResult> = {}): JobResult => ({
    ...verdict("restore", started, deps.now(), problems, outcome),
    ...extra,
  });

  try {
    await mkdir(plan.target, { recursive: true });
  } catch (err) {
    problems.push(problem("prepare", "ResticFailed", `cannot create the target ${plan.target}: ${err instanceof Error ? err.message : String(err)}`));
    return done("Failed");
  }
  const scratch = await makeScratchDirs(plan.cacheDir);
  if (scratch) {
    problems.push(scratch);
    return done("Failed");
  }

  const throttle = new Throttle(plan.progressIntervalMs);
  const onStatus = (st: RestoreStatus) => {
    if (!throttle.ready()) return;
    const line = describeRestoreStatus(st);
    logger.info(line.message, line.meta);
  };
  const restoreOf = (c: ResticContext, snapshotId: string, host?: string) =>
    runRestore(c, { snapshot: snapshotId, ...(host ? { host } : {}), target: plan.target, includes: plan.includes, excludes: plan.excludes, ...existingData(plan) }, onStatus);

  // `latest`, and a full id without a host filter, restore while they are resolved: both commands
  // only read (--no-lock), and the resolution (which names the snapshot in the result and explains
  // a missing one) costs restic's key derivation once more, which need not come first. A prefix is
  // resolved first: restic refuses an ambiguous one, the wrapper takes the newest match.
  const direct = !plan.snapshotNamespace && (plan.snapshot === "latest" || (/^[0-9a-f]{64}$/.test(plan.snapshot) && !plan.snapshotHost));
  const early = new AbortController();
  const early$ = direct ? restoreOf({ ...ctx, signal: AbortSignal.any([deps.signal, early.signal]) }, plan.snapshot, plan.snapshotHost) : undefined;
  const unresolved = async (p: Problem) => {
    // The restore started alongside is stopped: what it did or did not do is not what gets reported.
    early.abort();
    await early$;
    problems.push(p);
    return done("Failed");
  };

  // restic's `latest` is the newest of all; within one namespace it is the newest of that
  // namespace's, so all are listed and filtered here.
  const ids = plan.snapshotNamespace && plan.snapshot === "latest" ? [] : [plan.snapshot];
  const filter = plan.snapshotHost ? { ids, host: plan.snapshotHost } : { ids };
  logger.info(direct ? "resolving and restoring snapshot" : "resolving snapshot", { snapshot: plan.snapshot, host: plan.snapshotHost, namespace: plan.snapshotNamespace, target: plan.target });
  const resolved = await runSnapshots(ctx, filter);
  if (resolved.run.exitCode !== EXIT_OK) return unresolved(problemOf("resolve", resolved.run, deps));
  if (!resolved.snapshots) return unresolved(problem("resolve", "ResticFailed", resolved.parseError ?? "snapshots: no output"));
  const candidates = plan.snapshotNamespace ? resolved.snapshots.filter((s) => takenInNamespace(s.tags, plan.snapshotNamespace!)) : resolved.snapshots;
  const newest = [...candidates].sort((a, b) => Date.parse(b.time) - Date.parse(a.time))[0];
  if (!newest) {
    if (plan.snapshotNamespace && plan.snapshot !== "latest" && resolved.snapshots.length > 0) {
      return unresolved(problem("resolve", "SnapshotNotInNamespace",
        `snapshot "${plan.snapshot}" was not taken by a backup of namespace ${plan.snapshotNamespace}, and this Repository lets other namespaces restore only their own snapshots (its owner can allow all with spec.usagePolicy.snapshots.from: All)`));
    }
    const why = resolved.run.textTail.join("\n");
    const of = [plan.snapshotHost ? `of host "${plan.snapshotHost}"` : "", plan.snapshotNamespace ? `of namespace ${plan.snapshotNamespace}` : ""].filter(Boolean).join(" ");
    const what = plan.snapshot === "latest" ? `no snapshot${of ? ` ${of}` : ""} in the repository` : `no snapshot "${plan.snapshot}"${of ? ` ${of}` : ""} in the repository`;
    return unresolved(problem("resolve", "SnapshotNotFound", why ? `${what} (${why})` : what));
  }
  const snapshot = { id: newest.id, time: newest.time, host: newest.hostname };

  if (!direct) logger.info("restoring", { snapshot: newest.id, target: plan.target, includes: plan.includes, excludes: plan.excludes });
  const restore = await (early$ ?? restoreOf(ctx, newest.id));
  const extra: Partial<JobResult> = { snapshot };
  const summary = restore.summary;
  if (summary) extra.restore = summary.figures;
  if (restore.errorCount > 0) extra.errors = errorSamplesOf(restore.errorCount, restore.errorSamples, plan.target);
  if (restore.run.exitCode !== EXIT_OK) {
    problems.push(problemOf("restore", restore.run, deps));
    return done("Failed", extra);
  }
  if (restore.errorCount > 0) {
    problems.push(problem("restore", "ResticFailed", `${restore.errorCount} file(s) could not be restored`));
    return done("Failed", extra);
  }
  logger.info("restored", { snapshot: newest.id, ...extra.restore });
  return done("Succeeded", extra);
}

/** What happens to what the target already holds: restic's --overwrite and --delete, as the Job asks. */
function existingData(plan: RestorePlan): { overwrite?: string; deleteExtra?: boolean } {
  return { ...(plan.overwrite ? { overwrite: plan.overwrite } : {}), ...(plan.deleteExtra ? { deleteExtra: true } : {}) };
}
