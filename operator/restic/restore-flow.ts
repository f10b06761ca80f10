// The restore Job's work: resolve the snapshot (`latest` or an id prefix, with the host filter) to
// one id with `snapshots`, so the result names exactly what was restored and a missing snapshot is
// reported as such, then `restore` it into the target. Every restic command runs with --no-lock.

import { mkdir } from "node:fs/promises";
import type { JobResult } from "../api/result.ts";
import { logger } from "../observability/logger.ts";
import { makeScratchDirs } from "./backup-flow.ts";
import type { RestorePlan } from "./flags.ts";
import { describeRestoreStatus, Throttle } from "./progress.ts";
import { EXIT_OK } from "./reasons.ts";
import { runRestore } from "./restore.ts";
import { runSnapshots } from "./snapshots.ts";
import { errorSample, problem, problemOf, resticContext, verdict, type FlowDeps, type Problem } from "./steps.ts";

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

  const filter = plan.snapshotHost ? { ids: [plan.snapshot], host: plan.snapshotHost } : { ids: [plan.snapshot] };
  logger.info("resolving snapshot", { snapshot: plan.snapshot, host: plan.snapshotHost });
  const resolved = await runSnapshots(ctx, filter);
  if (resolved.run.exitCode !== EXIT_OK) {
    problems.push(problemOf("resolve", resolved.run, deps));
    return done("Failed");
  }
  if (!resolved.snapshots) {
    problems.push(problem("resolve", "ResticFailed", resolved.parseError ?? "snapshots: no output"));
    return done("Failed");
  }
  const newest = [...resolved.snapshots].sort((a, b) => Date.parse(b.time) - Date.parse(a.time))[0];
  if (!newest) {
    const why = resolved.run.textTail.join("\n");
    const what = plan.snapshot === "latest" ? `no snapshot${plan.snapshotHost ? ` of host "${plan.snapshotHost}"` : ""} in the repository` : `no snapshot "${plan.snapshot}" in the repository`;
    problems.push(problem("resolve", "SnapshotNotFound", why ? `${what} (${why})` : what));
    return done("Failed");
  }
  const snapshot = { id: newest.id, time: newest.time, host: newest.hostname };

  logger.info("restoring", { snapshot: newest.id, target: plan.target, includes: plan.includes, excludes: plan.excludes });
  const throttle = new Throttle(plan.progressIntervalMs);
  const restore = await runRestore(ctx, { snapshot: newest.id, target: plan.target, includes: plan.includes, excludes: plan.excludes }, (s) => {
    if (!throttle.ready()) return;
    const line = describeRestoreStatus(s);
    logger.info(line.message, line.meta);
  });
  const extra: Partial<JobResult> = { snapshot };
  const summary = restore.summary;
  if (summary) {
    extra.restore = {
      totalFiles: summary.totalFiles,
      filesRestored: summary.filesRestored,
      filesSkipped: summary.filesSkipped,
      totalBytes: summary.totalBytes,
      bytesRestored: summary.bytesRestored,
      bytesSkipped: summary.bytesSkipped,
    };
  }
  if (restore.errorCount > 0) extra.errors = { count: restore.errorCount, samples: restore.errorSamples.map((e) => errorSample(e, plan.target)) };
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
