// The backup Job's work, in order: open the repository and remove stale locks (`unlock`, which also
// says whether the repository exists), `init` when it does not, `backup`, retention (`forget` with
// `--prune` when asked), then `snapshots` and `stats --mode raw-data` side by side for the real
// count and size. A failure before the snapshot exists fails the Job; a failure after it leaves the
// result Partial: the data is safe, but something the user asked for did not happen.

import { mkdir, stat } from "node:fs/promises";
import type { JobResult } from "../api/result.ts";
import { logger } from "../observability/logger.ts";
import { runBackup } from "./backup.ts";
import type { BackupPlan } from "./flags.ts";
import { runForget } from "./forget.ts";
import { runInit } from "./init.ts";
import { describeBackupStatus, Throttle } from "./progress.ts";
import { EXIT_NO_REPOSITORY, EXIT_OK, EXIT_PARTIAL } from "./reasons.ts";
import { overview, runSnapshots } from "./snapshots.ts";
import { runStats } from "./stats.ts";
import { abortCause, errorSample, problem, problemOf, resticContext, verdict, type FlowDeps, type Problem } from "./steps.ts";
import { runUnlock } from "./unlock.ts";

export async function backupFlow(plan: BackupPlan, deps: FlowDeps): Promise<JobResult> {
  const started = deps.now();
  const ctx = resticContext(plan, deps);
  const problems: Problem[] = [];
  const done = (outcome: JobResult["outcome"], extra: Partial<JobResult> = {}): JobResult => ({
    ...verdict("backup", started, deps.now(), problems, outcome),
    ...extra,
  });

  const prepared = await prepare(plan);
  if (prepared) {
    problems.push(prepared);
    return done("Failed");
  }

  logger.info("opening repository and removing stale locks", { repository: plan.repository });
  let initialized = false;
  const unlock = await runUnlock(ctx);
  if (unlock.exitCode === EXIT_NO_REPOSITORY && !unlock.aborted) {
    logger.info("no repository yet: initializing", { repository: plan.repository });
    const init = await runInit(ctx);
    if (init.run.exitCode !== EXIT_OK) {
      problems.push(problemOf("init", init.run, deps));
      return done("Failed");
    }
    initialized = true;
    logger.info("repository initialized", { id: init.id });
  } else if (unlock.exitCode !== EXIT_OK) {
    problems.push(problemOf("unlock", unlock, deps));
    return done("Failed");
  }
  const base: Partial<JobResult> = initialized ? { initialized: true } : {};

  logger.info("backing up", { source: plan.source, paths: plan.paths, host: plan.host, tags: plan.tags });
  const throttle = new Throttle(plan.progressIntervalMs);
  const backup = await runBackup(ctx, { paths: plan.paths, excludes: plan.excludes, host: plan.host, tags: plan.tags }, plan.source, (s) => {
    if (!throttle.ready()) return;
    const line = describeBackupStatus(s);
    logger.info(line.message, line.meta);
  });
  const summary = backup.summary;
  const snapshotId = summary?.snapshotId;
  const partial = backup.run.exitCode === EXIT_PARTIAL && snapshotId !== undefined;
  if (backup.errorCount > 0) {
    base.errors = {
      count: backup.errorCount,
      samples: backup.errorSamples.map((e) => errorSample(e, plan.source)),
    };
  }
  if (!snapshotId || (backup.run.exitCode !== EXIT_OK && !partial)) {
    problems.push(problemOf("backup", backup.run, deps));
    return done("Failed", base);
  }
  if (partial) {
    const text = `snapshot ${snapshotId.slice(0, 8)} was made, but ${backup.errorCount || "some"} file(s) could not be read`;
    problems.push({ ...problem("backup", "PartialBackup", text), exitCode: EXIT_PARTIAL });
  }
  base.snapshot = { id: snapshotId, host: plan.host, ...(summary.backupStart ? { time: summary.backupStart } : {}) };
  base.backup = {
    filesNew: summary.filesNew,
    filesChanged: summary.filesChanged,
    filesUnmodified: summary.filesUnmodified,
    dirsNew: summary.dirsNew,
    dirsChanged: summary.dirsChanged,
    dirsUnmodified: summary.dirsUnmodified,
    dataAdded: summary.dataAdded,
    dataAddedPacked: summary.dataAddedPacked,
    totalFilesProcessed: summary.totalFilesProcessed,
    totalBytesProcessed: summary.totalBytesProcessed,
    durationSeconds: summary.totalDuration,
  };
  logger.info("snapshot saved", { snapshot: snapshotId, ...base.backup });

  if (plan.retention && !stopped(deps, problems, "forget")) {
    logger.info("applying retention policy", { prune: plan.retention.prune, dryRun: plan.retention.dryRun });
    const forget = await runForget(ctx, plan.retention, { host: plan.host, tags: plan.tags });
    if (forget.run.exitCode !== EXIT_OK) problems.push(problemOf("forget", forget.run, deps));
    else if (!forget.groups) problems.push(problem("forget", "ResticFailed", forget.parseError ?? "forget: no output"));
    else {
      const removed = forget.groups.flatMap((g) => g.remove);
      base.retention = {
        kept: forget.groups.reduce((n, g) => n + g.keep.length, 0),
        removed: removed.length,
        dryRun: plan.retention.dryRun,
        pruned: plan.retention.prune && !plan.retention.dryRun,
        removedIds: removed,
      };
      logger.info(plan.retention.dryRun ? "retention (dry run) would remove snapshots" : "retention removed snapshots", { removed: removed.length });
    }
  }

  if (!stopped(deps, problems, "snapshots")) {
    const [snaps, stats] = await Promise.all([runSnapshots(ctx), runStats(ctx)]);
    if (snaps.run.exitCode !== EXIT_OK) problems.push(problemOf("snapshots", snaps.run, deps));
    else if (!snaps.snapshots) problems.push(problem("snapshots", "ResticFailed", snaps.parseError ?? "snapshots: no output"));
    if (stats.run.exitCode !== EXIT_OK) problems.push(problemOf("stats", stats.run, deps));
    else if (!stats.stats) problems.push(problem("stats", "ResticFailed", stats.parseError ?? "stats: no output"));
    if (snaps.snapshots) {
      const o = overview(snaps.snapshots);
      base.repository = { snapshotCount: o.count };
      if (stats.stats) {
        base.repository.totalSize = stats.stats.totalSize;
        if (stats.stats.totalUncompressedSize !== undefined) base.repository.uncompressedSize = stats.stats.totalUncompressedSize;
      }
      if (o.oldest) base.repository.oldestSnapshotTime = o.oldest;
      if (o.newest) base.repository.newestSnapshotTime = o.newest;
      logger.info("repository", { ...base.repository });
    }
  }
  return done(problems.length > 0 ? "Partial" : "Succeeded", base);
}

/** Checks the source and creates the cache and temp directories (the root filesystem is read-only). */
async function prepare(plan: BackupPlan): Promise<Problem | undefined> {
  try {
    const s = await stat(plan.source);
    if (!s.isDirectory()) return problem("prepare", "PathNotFound", `source ${plan.source} is not a directory`);
  } catch {
    return problem("prepare", "PathNotFound", `source directory ${plan.source} does not exist`);
  }
  return makeScratchDirs(plan.cacheDir);
}

export async function makeScratchDirs(cacheDir: string | undefined): Promise<Problem | undefined> {
  for (const dir of [cacheDir, process.env.TMPDIR]) {
    if (!dir) continue;
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return problem("prepare", code === "ENOSPC" ? "NoSpaceLeft" : "ResticFailed", `cannot create ${dir}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return undefined;
}

/** After a snapshot exists, a stop signal skips the remaining steps and says which one it stopped at. */
function stopped(deps: FlowDeps, problems: Problem[], step: Problem["step"]): boolean {
  const cause = abortCause(deps.signal);
  if (!cause) return false;
  problems.push(problem(step, cause === "timeout" ? "Timeout" : "Interrupted", cause === "timeout" ? "skipped: the Job's timeOut was reached" : "skipped: stopped by a termination signal"));
  return true;
}
