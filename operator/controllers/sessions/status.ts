// Session and Repository status from a Job's outcome. Pure: reconcilers pass the clock.

import { setCondition, toApiTime, type Condition, type ConditionInput } from "../../api/conditions.ts";
import type { BackupSessionStatus, RestoreSessionStatus, SessionPhase, TargetRef, UnreadableFiles } from "../../api/backup.ts";
import type { RepositoryStatus } from "../../api/repository.ts";
import type { JobResult } from "../../api/result.ts";
import { formatBytes } from "../../api/bytes.ts";
import { formatDuration } from "../../config/duration.ts";
import type { JobOutcome } from "./outcome.ts";

/** The condition every session carries; `reason` is the machine-readable why. */
export const SESSION_CONDITION = "Completed";

type Finished = Extract<JobOutcome, { state: "finished" }>;

export function phaseOf(outcome: Finished): Exclude<SessionPhase, "Pending" | "Running"> {
  if (!outcome.succeeded) return "Failed";
  return outcome.partial ? "PartiallyFailed" : "Succeeded";
}

/** A session's phase and its one condition, for states decided before or without a Job. */
export function sessionState(
  conditions: readonly Condition[] | undefined,
  phase: SessionPhase,
  reason: string,
  message: string,
  now: Date,
): { phase: SessionPhase; conditions: Condition[] } {
  const input: ConditionInput = {
    type: SESSION_CONDITION,
    // PartiallyFailed is not a completion of what was asked: False, with the reason saying what is missing.
    status: phase === "Succeeded" ? "True" : phase === "Failed" || phase === "PartiallyFailed" ? "False" : "Unknown",
    reason,
    message,
  };
  return { phase, conditions: setCondition(conditions, input, now) };
}

function sessionDuration(created: Date | undefined, finishedAt: Date | undefined, now: Date): string | undefined {
  if (!created) return undefined;
  return formatDuration(Math.max(0, (finishedAt ?? now).getTime() - created.getTime()));
}

/** The per-host part Stash reports for backups and restores alike (one host: the PVC). */
function hostOutcome(outcome: Finished) {
  const r = outcome.result;
  return {
    hostname: r?.snapshot?.host,
    phase: phaseOf(outcome),
    duration: r ? formatDuration(Date.parse(r.endTime) - Date.parse(r.startTime)) : undefined,
    error: outcome.succeeded && !outcome.partial ? undefined : outcome.message,
  };
}

/** BackupSession status for a finished Job, in Stash's shape (targets[].stats[].snapshots[]). */
export function finishedBackupStatus(
  current: BackupSessionStatus | undefined,
  outcome: Finished,
  target: TargetRef | undefined,
  created: Date | undefined,
  now: Date,
): BackupSessionStatus {
  const r = outcome.result;
  const phase = phaseOf(outcome);
  const state = sessionState(current?.conditions, phase, outcome.reason, outcome.message, now);
  const b = r?.backup;
  const snapshot = r?.snapshot?.id;
  const hostStats = {
    ...hostOutcome(outcome),
    snapshots: snapshot
      ? [
          {
            name: snapshot,
            totalSize: b ? formatBytes(b.totalBytesProcessed) : undefined,
            uploaded: b ? formatBytes(b.dataAddedPacked) : undefined,
            processingTime: b ? formatDuration(b.durationSeconds * 1000) : undefined,
            fileStats: b
              ? {
                  totalFiles: b.totalFilesProcessed,
                  newFiles: b.filesNew,
                  modifiedFiles: b.filesChanged,
                  unmodifiedFiles: b.filesUnmodified,
                }
              : undefined,
          },
        ]
      : undefined,
  };
  const unreadable = unreadableFiles(outcome);
  return {
    ...current,
    ...state,
    sessionDuration: sessionDuration(created, outcome.finishedAt, now),
    snapshot,
    targets: [{ ref: target, totalHosts: 1, phase, stats: [stripUndefined(hostStats)] }],
    ...(unreadable ? { unreadableFiles: unreadable } : {}),
  };
}

/** How many files a backup could not read (restic exit 3) and the first of their paths. */
export const UNREADABLE_PATHS_SHOWN = 10;

export function unreadableFiles(outcome: Finished): UnreadableFiles | undefined {
  const r = outcome.result;
  if (r?.action !== "backup" || !r.errors || r.errors.count === 0) return undefined;
  const paths = r.errors.paths?.slice(0, UNREADABLE_PATHS_SHOWN);
  return paths?.length ? { count: r.errors.count, paths } : { count: r.errors.count };
}

export function finishedRestoreStatus(
  current: RestoreSessionStatus | undefined,
  outcome: Finished,
  created: Date | undefined,
  now: Date,
): RestoreSessionStatus {
  const r = outcome.result;
  const phase = phaseOf(outcome);
  const state = sessionState(current?.conditions, phase, outcome.reason, outcome.message, now);
  return {
    ...current,
    ...state,
    totalHosts: 1,
    sessionDuration: sessionDuration(created, outcome.finishedAt, now),
    snapshot: r?.snapshot?.id,
    filesRestored: r?.restore?.filesRestored,
    bytesRestored: r?.restore?.bytesRestored,
    filesSkipped: r?.restore?.filesSkipped,
    filesDeleted: r?.restore?.filesDeleted,
    stats: [
      stripUndefined(hostOutcome(outcome)),
    ],
  };
}

/**
 * The Repository fields a backup result updates (the session controllers own these; the
 * Repository controller owns conditions). Only fields the result actually measured are set.
 */
export function repositoryFiguresFrom(result: JobResult, current: RepositoryStatus | undefined): Partial<RepositoryStatus> {
  const out: Partial<RepositoryStatus> = {};
  if (result.action !== "backup" || !result.snapshot) return out;
  const when = toApiTime(new Date(result.endTime));
  out.lastBackupTime = when;
  out.firstBackupTime = current?.firstBackupTime ?? when;
  if (result.repository) {
    out.snapshotCount = result.repository.snapshotCount;
    if (result.repository.totalSize !== undefined) out.totalSize = formatBytes(result.repository.totalSize);
  }
  if (result.retention) out.snapshotsRemovedOnLastCleanup = result.retention.dryRun ? 0 : result.retention.removed;
  // status.integrity is restic check's alone (controllers/maintenance): a backup proves nothing about old packs.
  return out;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
