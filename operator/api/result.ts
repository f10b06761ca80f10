// The one JSON document a backup or restore Job reports with. The wrapper writes it to the
// container's termination message file; the operator reads it back from the terminated Pod's
// `state.terminated.message`. Kubernetes keeps at most 4096 bytes of it, so `serializeJobResult`
// shrinks a result until it fits, and `parseJobResult` accepts anything (a truncated file, log text
// from FallbackToLogsOnError, nothing at all) without throwing.

import { isRecord } from "./json.ts";

export const RESULT_VERSION = 1;

/** Bytes Kubernetes keeps of a container's termination message. */
export const TERMINATION_MESSAGE_LIMIT = 4096;

export type ResultAction = "backup" | "restore" | "check" | "forget";

/**
 * Succeeded: everything asked for was done.
 * Partial: a snapshot exists (backup) but something is missing: unreadable files, or retention,
 * snapshot listing or size statistics failed afterwards. `step` and `reason` say what.
 * Failed: no snapshot was made (backup) or the restore did not complete.
 */
export type ResultOutcome = "Succeeded" | "Partial" | "Failed";

/** The wrapper's steps, in the order they run; `step` in a result names where it stopped or warned. */
export type ResultStep = "prepare" | "unlock" | "init" | "backup" | "forget" | "snapshots" | "stats" | "resolve" | "restore" | "check";

export const RESULT_STEPS: readonly ResultStep[] = ["prepare", "unlock", "init", "backup", "forget", "snapshots", "stats", "resolve", "restore", "check"];

/** CamelCase reasons, usable as a condition's reason as they are. */
export const RESULT_REASONS = [
  "Succeeded",
  /** restic exit 3: the snapshot was made without some files (listed in `errors`). */
  "PartialBackup",
  /** restic exit 12. */
  "WrongPassword",
  /** restic exit 11: another process holds the lock. */
  "RepositoryLocked",
  /** restic exit 10 on restore: nothing at the repository URL. */
  "NotInitialized",
  /** The snapshot id (or `latest` with its host filter) matched nothing. */
  "SnapshotNotFound",
  /** The snapshot exists but no backup of the restoring session's namespace took it (shared Repository). */
  "SnapshotNotInNamespace",
  /** A path to back up does not exist in the volume. */
  "PathNotFound",
  /** The volume (or the paths and excludes chosen) holds nothing: restic makes no empty snapshot. */
  "NothingToBackUp",
  /** Connection refused, timeouts, DNS failures, TLS failures, resets. */
  "NetworkError",
  /** The storage service refused the credentials (bad or malformed SAS). */
  "AuthenticationFailed",
  /** The SAS is past its expiry (or not yet valid). */
  "SasExpired",
  /** The credentials are genuine but lack a permission (e.g. a read-only SAS asked to write). */
  "PermissionDenied",
  "ContainerNotFound",
  /** The volume (restore target, cache) is full. */
  "NoSpaceLeft",
  /** The kernel killed restic at the container's memory limit. */
  "OutOfMemory",
  /** The wrapper stopped restic because the Job's timeOut was about to end. */
  "Timeout",
  /** restic exit 130, or the wrapper got SIGTERM/SIGINT. */
  "Interrupted",
  /** The wrapper was started with flags it cannot use (a bug in the Job builder, or a hand-made Job). */
  "InvalidArguments",
  /** No restic binary where the wrapper looked. */
  "ResticNotFound",
  /** `restic check` found damage; `message` has restic's words about what is damaged. */
  "RepositoryDamaged",
  /** Any other restic failure; `message` has restic's text. */
  "ResticFailed",
] as const;

export type ResultReason = (typeof RESULT_REASONS)[number];

/**
 * restic's backup summary: each figure as a result names it, and the field of restic's `summary`
 * message it comes from. Bytes are bytes.
 */
export const BACKUP_FIGURES = {
  filesNew: "files_new",
  filesChanged: "files_changed",
  filesUnmodified: "files_unmodified",
  dirsNew: "dirs_new",
  dirsChanged: "dirs_changed",
  dirsUnmodified: "dirs_unmodified",
  /** Bytes added to the repository before compression. */
  dataAdded: "data_added",
  /** Bytes added to the repository as stored. */
  dataAddedPacked: "data_added_packed",
  totalFilesProcessed: "total_files_processed",
  totalBytesProcessed: "total_bytes_processed",
  durationSeconds: "total_duration",
} as const;

export type BackupFigures = Record<keyof typeof BACKUP_FIGURES, number>;

/** restic's restore summary, in the same form. */
export const RESTORE_FIGURES = {
  totalFiles: "total_files",
  filesRestored: "files_restored",
  filesSkipped: "files_skipped",
  totalBytes: "total_bytes",
  bytesRestored: "bytes_restored",
  bytesSkipped: "bytes_skipped",
  /** Files and directories --delete removed from the target. */
  filesDeleted: "files_deleted",
} as const;

export type RestoreFigures = Record<keyof typeof RESTORE_FIGURES, number>;

/**
 * The figures of one of restic's summary messages. A field that is absent or not a finite
 * non-negative number counts 0: restore's summary omits its zero fields.
 */
export function figuresOf<K extends string>(message: Record<string, unknown>, table: Readonly<Record<K, string>>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const [figure, field] of Object.entries(table) as Array<[K, string]>) {
    const v = message[field];
    out[figure] = isCount(v) ? v : 0;
  }
  return out;
}

export interface RetentionFigures {
  /** Snapshots of this backup's group that were kept. */
  kept: number;
  /** Snapshots removed (or that would be, when `dryRun`). */
  removed: number;
  dryRun: boolean;
  pruned: boolean;
  /** Short ids of the removed snapshots; dropped first when the result must shrink. */
  removedIds?: string[];
}

/** Whole-repository figures from `stats --mode raw-data`. */
export interface RepositoryFigures {
  snapshotCount: number;
  /** Bytes the repository's blobs take as stored (after compression), across all snapshots. */
  totalSize?: number;
  uncompressedSize?: number;
}

export interface SnapshotRef {
  id: string;
  time?: string;
  host?: string;
  parent?: string;
}

export interface ErrorSamples {
  /** How many per-file errors restic reported. */
  count: number;
  /** The first few, as restic wrote them (paths inside the volume). */
  samples: string[];
  /** The paths of those first few (inside the volume, from restic's `item`), for the session's status. */
  paths?: string[];
}

export interface JobResult {
  version: typeof RESULT_VERSION;
  action: ResultAction;
  outcome: ResultOutcome;
  reason: ResultReason;
  /** Human-readable, secret-free; restic's error text when a step failed. */
  message?: string;
  /** The step that failed or left the result partial. */
  step?: ResultStep;
  /** restic's exit code at that step. */
  exitCode?: number;
  /** RFC 3339. */
  startTime: string;
  endTime: string;
  /** The snapshot made (backup) or restored (restore). */
  snapshot?: SnapshotRef;
  /** True when this Job created the repository (restic init). */
  initialized?: boolean;
  backup?: BackupFigures;
  restore?: RestoreFigures;
  retention?: RetentionFigures;
  repository?: RepositoryFigures;
  errors?: ErrorSamples;
  /** A check: how much data it read (`--read-data-subset`, absent for a structure-only check). */
  check?: { readDataSubset?: string };
}

export type ParsedJobResult = { ok: true; result: JobResult } | { ok: false; error: string };

const OUTCOMES: readonly ResultOutcome[] = ["Succeeded", "Partial", "Failed"];
const ACTIONS: readonly ResultAction[] = ["backup", "restore", "check", "forget"];

/**
 * What the operator takes from a result: it comes from a pod, and a tenant who may create pods can
 * make one look like a Job's. Kubernetes keeps 4096 bytes of a termination message (2048 of a log
 * tail); anything longer did not come through that path and is refused unread.
 */
const MAX_RESULT_LENGTH = 16 * 1024;
const MAX_MESSAGE_LENGTH = TERMINATION_MESSAGE_LIMIT;
const MAX_SAMPLES = 50;
const MAX_SAMPLE_LENGTH = 1024;
const MAX_REMOVED_IDS = 1000;
/** A restic host name; Kubernetes names are at most 253 characters. */
const MAX_HOST_LENGTH = 253;

/** Parses a termination message. Never throws: garbage gives `{ ok: false }` with a short reason. */
export function parseJobResult(text: unknown): ParsedJobResult {
  if (typeof text !== "string" || text.trim() === "") return { ok: false, error: "no result was written" };
  if (text.length > MAX_RESULT_LENGTH) return { ok: false, error: `result is ${text.length} characters; a Job's result is at most ${TERMINATION_MESSAGE_LIMIT} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: `result is not JSON: ${preview(text)}` };
  }
  if (!isRecord(raw)) return { ok: false, error: "result is not a JSON object" };
  if (raw.version !== RESULT_VERSION) return { ok: false, error: `result version ${JSON.stringify(raw.version) ?? "missing"} is not ${RESULT_VERSION}` };
  const action = oneOf(raw.action, ACTIONS);
  const outcome = oneOf(raw.outcome, OUTCOMES);
  const reason = oneOf(raw.reason, RESULT_REASONS);
  const startTime = time(raw.startTime);
  const endTime = time(raw.endTime);
  if (!action) return { ok: false, error: "result has no valid action" };
  if (!outcome) return { ok: false, error: "result has no valid outcome" };
  if (!reason) return { ok: false, error: `result reason ${JSON.stringify(raw.reason) ?? "missing"} is not known` };
  if (!startTime || !endTime) return { ok: false, error: "result has no valid startTime/endTime" };

  // Optional parts that do not validate are dropped rather than failing the whole result: the
  // outcome is what matters, figures are a bonus.
  const result: JobResult = { version: RESULT_VERSION, action, outcome, reason, startTime, endTime };
  if (typeof raw.message === "string") result.message = truncateText(raw.message, MAX_MESSAGE_LENGTH);
  const step = oneOf(raw.step, RESULT_STEPS);
  if (step) result.step = step;
  if (isCount(raw.exitCode)) result.exitCode = raw.exitCode;
  if (raw.initialized === true) result.initialized = true;
  const snapshot = parseSnapshotRef(raw.snapshot);
  if (snapshot) result.snapshot = snapshot;
  const backup = numbers(raw.backup, BACKUP_FIGURES);
  if (backup) result.backup = backup;
  const restore = numbers(raw.restore, RESTORE_FIGURES);
  if (restore) result.restore = restore;
  const retention = parseRetention(raw.retention);
  if (retention) result.retention = retention;
  const repository = parseRepositoryFigures(raw.repository);
  if (repository) result.repository = repository;
  const errors = parseErrors(raw.errors);
  if (errors) result.errors = errors;
  if (isRecord(raw.check)) {
    const subset = raw.check.readDataSubset;
    result.check = typeof subset === "string" && /^[0-9./%]{1,16}$/.test(subset) ? { readDataSubset: subset } : {};
  }
  return { ok: true, result };
}

/**
 * JSON for the termination message, at most `limit` bytes of UTF-8. Shrinks in order of least
 * value: removed snapshot ids, error samples, then the message (cut with a marker), then the
 * figures; the outcome, reason, step, snapshot id and times always survive.
 */
export function serializeJobResult(result: JobResult, limit = TERMINATION_MESSAGE_LIMIT): string {
  const fits = (r: JobResult) => {
    const s = JSON.stringify(r);
    return Buffer.byteLength(s, "utf8") <= limit ? s : undefined;
  };
  let r: JobResult = structuredClone(result);
  let out = fits(r);
  if (out) return out;

  if (r.retention?.removedIds) {
    delete r.retention.removedIds;
    if ((out = fits(r))) return out;
  }
  if (r.errors) {
    // Keep as many samples as fit, each cut to a sane length first.
    r.errors.samples = r.errors.samples.map((s) => truncateText(s, 200));
    if (r.errors.paths) r.errors.paths = r.errors.paths.map((s) => truncateText(s, 200));
    while (r.errors.samples.length > 0 || (r.errors.paths?.length ?? 0) > 0) {
      if ((out = fits(r))) return out;
      // Samples go before paths: a path is what the session's status names.
      if (r.errors.samples.length > 0) r.errors.samples.pop();
      else r.errors.paths!.pop();
    }
    if ((out = fits(r))) return out;
  }
  if (r.message) {
    const base = Buffer.byteLength(JSON.stringify({ ...r, message: "" }), "utf8");
    // JSON escaping can grow a character to 6 bytes ("\u0000"); shrink until it really fits.
    let budget = limit - base;
    while (budget > 0) {
      r.message = truncateBytes(r.message, budget);
      if ((out = fits(r))) return out;
      budget -= Math.max(16, Math.ceil(budget / 8));
    }
    delete r.message;
    if ((out = fits(r))) return out;
  }
  for (const key of ["errors", "repository", "retention", "restore", "backup"] as const) {
    if (r[key] !== undefined) {
      r = { ...r };
      delete r[key];
      if ((out = fits(r))) return out;
    }
  }
  // Only the identity of the result is left, which fits any sane limit; under an insane one, the
  // smallest valid form.
  const core: JobResult = { version: r.version, action: r.action, outcome: r.outcome, reason: r.reason, startTime: r.startTime, endTime: r.endTime };
  if (r.step) core.step = r.step;
  if (r.exitCode !== undefined) core.exitCode = r.exitCode;
  if (r.snapshot) core.snapshot = { id: r.snapshot.id };
  return fits(core) ?? JSON.stringify({ ...core, step: undefined, exitCode: undefined, snapshot: undefined });
}

const TRUNCATION_MARK = " …[truncated]";

/** Cuts text to at most `max` characters, marking the cut. */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  return text.slice(0, Math.max(0, max - TRUNCATION_MARK.length)) + TRUNCATION_MARK;
}

/** Cuts text to at most `maxBytes` of UTF-8 (never splitting a character), marking the cut. */
export function truncateBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  const room = maxBytes - Buffer.byteLength(TRUNCATION_MARK, "utf8");
  if (room <= 0) return "";
  let used = 0;
  let out = "";
  for (const ch of text) {
    const n = Buffer.byteLength(ch, "utf8");
    if (used + n > room) break;
    used += n;
    out += ch;
  }
  return out + TRUNCATION_MARK;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[]): T | undefined {
  return typeof v === "string" && (allowed as readonly string[]).includes(v) ? (v as T) : undefined;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
}

const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/;

function time(v: unknown): string | undefined {
  return typeof v === "string" && v.length <= 64 && !Number.isNaN(Date.parse(v)) ? v : undefined;
}

/** Every figure of `table` must be a non-negative finite number, or the block is dropped. */
function numbers<K extends string>(v: unknown, table: Readonly<Record<K, string>>): Record<K, number> | undefined {
  if (!isRecord(v)) return undefined;
  const out = {} as Record<K, number>;
  for (const k of Object.keys(table) as K[]) {
    const n = v[k];
    if (!isCount(n)) return undefined;
    out[k] = n;
  }
  return out;
}

function parseSnapshotRef(v: unknown): SnapshotRef | undefined {
  if (!isRecord(v) || typeof v.id !== "string" || !SNAPSHOT_ID.test(v.id)) return undefined;
  const out: SnapshotRef = { id: v.id };
  const t = time(v.time);
  if (t) out.time = t;
  if (typeof v.host === "string" && v.host.length <= MAX_HOST_LENGTH) out.host = v.host;
  if (typeof v.parent === "string" && SNAPSHOT_ID.test(v.parent)) out.parent = v.parent;
  return out;
}

function parseRetention(v: unknown): RetentionFigures | undefined {
  if (!isRecord(v) || !isCount(v.kept) || !isCount(v.removed) || typeof v.dryRun !== "boolean" || typeof v.pruned !== "boolean") return undefined;
  const out: RetentionFigures = { kept: v.kept, removed: v.removed, dryRun: v.dryRun, pruned: v.pruned };
  if (Array.isArray(v.removedIds) && v.removedIds.length <= MAX_REMOVED_IDS && v.removedIds.every((s) => typeof s === "string" && SNAPSHOT_ID.test(s))) {
    out.removedIds = v.removedIds as string[];
  }
  return out;
}

function parseRepositoryFigures(v: unknown): RepositoryFigures | undefined {
  if (!isRecord(v) || !isCount(v.snapshotCount)) return undefined;
  const out: RepositoryFigures = { snapshotCount: v.snapshotCount };
  if (isCount(v.totalSize)) out.totalSize = v.totalSize;
  if (isCount(v.uncompressedSize)) out.uncompressedSize = v.uncompressedSize;
  return out;
}

function parseErrors(v: unknown): ErrorSamples | undefined {
  if (!isRecord(v) || !isCount(v.count)) return undefined;
  const samples = Array.isArray(v.samples)
    ? v.samples
        .slice(0, MAX_SAMPLES)
        .filter((s): s is string => typeof s === "string")
        .map((s) => truncateText(s, MAX_SAMPLE_LENGTH))
    : [];
  const out: ErrorSamples = { count: v.count, samples };
  if (Array.isArray(v.paths)) {
    out.paths = v.paths
      .slice(0, MAX_SAMPLES)
      .filter((s): s is string => typeof s === "string")
      .map((s) => truncateText(s, MAX_SAMPLE_LENGTH));
  }
  return out;
}

function preview(text: string): string {
  return JSON.stringify(truncateText(text.trim(), 120));
}
