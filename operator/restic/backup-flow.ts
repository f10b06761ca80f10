// The backup Job's work: `backup` (which also says whether the repository exists: `init` when it does
// not), then `unlock` to remove stale locks, retention (`forget` with `--prune` when asked) and
// `stats --mode raw-data` for the real count and size. A failure before the snapshot exists
// fails the Job; a failure after it leaves the result Partial: the data is safe, but something the
// user asked for did not happen.

import { mkdir, stat } from "node:fs/promises";
import type { JobResult } from "../api/result.ts";
import { logger } from "../observability/logger.ts";
import { runBackup } from "./backup.ts";
import type { BackupPlan } from "./flags.ts";
import { runForget } from "./forget.ts";
import { runInit } from "./init.ts";
import { describeBackupStatus, Throttle } from "./progress.ts";
import { EXIT_LOCKED, EXIT_NO_REPOSITORY, EXIT_OK, EXIT_PARTIAL } from "./reasons.ts";
import type { ResticRun } from "./runner.ts";
import { runStats } from "./stats.ts";
import { abortCause, errorSamplesOf, firstPaths, problem, problemOf, resticContext, verdict, type FlowDeps, type Problem } from "./steps.ts";
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

  const failed = (p: Problem, extra: Partial<JobResult> = {}) => {
    problems.push(p);
    return done("Failed", extra);
  };
  const throttle = new Throttle(plan.progressIntervalMs);
  const backupOnce = () => {
    logger.info("backing up", { source: plan.source, paths: plan.paths, host: plan.host, tags: plan.tags });
    return runBackup(ctx, { paths: plan.paths, excludes: plan.excludes, host: plan.host, tags: plan.tags }, plan.source, (s) => {
      if (!throttle.ready()) return;
      const line = describeBackupStatus(s);
      logger.info(line.message, line.meta);
    });
  };

  // The backup goes first: it also says whether the repository exists (exit 10: init), and its lock
  // is non-exclusive, so only a stale exclusive lock (a prune that died) stops it ("locked", exit 11:
  // remove stale locks, then again). Other stale locks are removed once the snapshot is safe, beside
  // `stats`: every restic start pays its key derivation (scrypt, half a second of a core), which
  // beside the backup slowed it on a two-core node. Retention's exclusive lock is blocked by any
  // stale lock, so `forget` waits for the removal.
  let initialized = false;
  let unlocked: ResticRun | undefined;
  let backup = await backupOnce();
  if (backup.run.exitCode === EXIT_NO_REPOSITORY && !backup.run.aborted) {
    logger.info("no repository yet: initializing", { repository: plan.repository });
    const init = await runInit(ctx);
    if (init.run.exitCode !== EXIT_OK) return failed(problemOf("init", init.run, deps));
    initialized = true;
    logger.info("repository initialized", { id: init.id });
    backup = await backupOnce();
  } else if (backup.run.exitCode === EXIT_LOCKED && !backup.run.aborted) {
    logger.info("repository locked: removing stale locks", { repository: plan.repository });
    unlocked = await runUnlock(ctx);
    if (unlocked.exitCode !== EXIT_OK) return failed(problemOf("unlock", unlocked, deps));
    logger.info("stale locks removed: backing up again", { repository: plan.repository });
    backup = await backupOnce();
  }
  const base: Partial<JobResult> = initialized ? { initialized: true } : {};
  const summary = backup.summary;
  const snapshotId = summary?.snapshotId;
  const partial = backup.run.exitCode === EXIT_PARTIAL && snapshotId !== undefined;
  if (backup.errorCount > 0) {
    base.errors = errorSamplesOf(backup.errorCount, backup.errorSamples, plan.source);
  }
  if (!snapshotId || (backup.run.exitCode !== EXIT_OK && !partial)) return failed(problemOf("backup", backup.run, deps), base);
  if (partial) {
    const named = base.errors?.paths?.length ? `: ${firstPaths(base.errors.paths, backup.errorCount)}` : "";
    const text = `snapshot ${snapshotId.slice(0, 8)} was made, but ${backup.errorCount || "some"} file(s) could not be read${named}`;
    problems.push({ ...problem("backup", "PartialBackup", text), exitCode: EXIT_PARTIAL });
  }
  base.snapshot = { id: snapshotId, host: plan.host, ...(summary.backupStart ? { time: summary.backupStart } : {}) };
  base.backup = summary.figures;
  logger.info("snapshot saved", { snapshot: snapshotId, ...base.backup });

  // The snapshot is safe; stale locks that could not be removed are what the next run would trip on.
  // A repository this run created, or one it just cleared, has none.
  const unlock$ = initialized || unlocked || stopped(deps, problems, "unlock") ? undefined : runUnlock(ctx);
  let unlockChecked: Promise<void> | undefined;
  const unlockDone = () =>
    (unlockChecked ??= (async () => {
      const unlock = await unlock$;
      if (unlock && unlock.exitCode !== EXIT_OK) problems.push(problemOf("unlock", unlock, deps));
    })());
  if (plan.retention) await unlockDone();

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

  // One restic run for both figures: stats reads every snapshot (no filter) and says how many.
  if (!stopped(deps, problems, "stats")) {
    const [stats] = await Promise.all([runStats(ctx), unlockDone()]);
    if (stats.run.exitCode !== EXIT_OK) problems.push(problemOf("stats", stats.run, deps));
    else if (!stats.stats) problems.push(problem("stats", "ResticFailed", stats.parseError ?? "stats: no output"));
    else {
      base.repository = { snapshotCount: stats.stats.snapshotsCount, totalSize: stats.stats.totalSize };
      if (stats.stats.totalUncompressedSize !== undefined) base.repository.uncompressedSize = stats.stats.totalUncompressedSize;
      logger.info("repository", { ...base.repository });
    }
  }
  await unlockDone();
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
