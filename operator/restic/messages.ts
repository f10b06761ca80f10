// restic's `--json` output, one message per line (backup and restore on stdout; `error` and
// `exit_error` on stderr, mixed with plain-text warnings such as "x does not exist, skipping" and
// the backend's "… returned error, retrying after …"). Every line parses to something: lines that
// are not restic JSON come back as `text`. Field names follow restic 0.19 (see testdata/).

import { BACKUP_FIGURES, figuresOf, RESTORE_FIGURES, truncateText, type BackupFigures, type RestoreFigures } from "../api/result.ts";

export interface BackupStatus {
  type: "backup-status";
  secondsElapsed: number;
  /** Absent while restic cannot estimate. */
  secondsRemaining?: number;
  /** 0..1 */
  percentDone: number;
  totalFiles: number;
  filesDone: number;
  totalBytes: number;
  bytesDone: number;
  errorCount: number;
}

export interface RestoreStatus {
  type: "restore-status";
  secondsElapsed: number;
  percentDone: number;
  totalFiles: number;
  filesRestored: number;
  filesSkipped: number;
  totalBytes: number;
  bytesRestored: number;
  bytesSkipped: number;
}

/** restic's backup `summary`: the figures a result reports, and the snapshot it made. */
export interface BackupSummary {
  type: "backup-summary";
  figures: BackupFigures;
  backupStart?: string;
  /** Absent with --dry-run. */
  snapshotId?: string;
}

/** restic's restore `summary`. */
export interface RestoreSummary {
  type: "restore-summary";
  figures: RestoreFigures;
}

/** A per-item error that did not stop restic (an unreadable file during backup, a failed write during restore). */
export interface ItemError {
  type: "error";
  message: string;
  during?: string;
  item?: string;
}

/** restic's last words before exiting non-zero. */
export interface ExitError {
  type: "exit-error";
  code: number;
  message: string;
}

export interface VerboseStatus {
  type: "verbose-status";
  action: string;
  item: string;
}

export interface Initialized {
  type: "initialized";
  id: string;
  repository: string;
}

/** A line that is not restic JSON (warnings, retries, a panic). */
export interface TextLine {
  type: "text";
  text: string;
}

export type ResticMessage =
  | BackupStatus
  | RestoreStatus
  | BackupSummary
  | RestoreSummary
  | ItemError
  | ExitError
  | VerboseStatus
  | Initialized
  | TextLine;

type Raw = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const optNum = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
/** restic's fields are ids, paths and error texts; a field longer than this is cut (a path is at most 4096 bytes on Linux). */
const MAX_FIELD_LENGTH = 8192;
const str = (v: unknown): string | undefined => (typeof v === "string" ? truncateText(v, MAX_FIELD_LENGTH) : undefined);

/**
 * Parses one line of restic output; never throws. `command` says whose output it is: restore's
 * status and summary omit zero fields, so an empty restore summary looks like nothing in particular.
 */
export function parseResticLine(line: string, command?: "backup" | "restore"): ResticMessage {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{")) return { type: "text", text: line };
  let raw: unknown;
  try {
    raw = JSON.parse(trimmed);
  } catch {
    return { type: "text", text: line };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { type: "text", text: line };
  const m = raw as Raw;
  switch (m.message_type) {
    case "status":
      return isRestore(m, command) ? restoreStatus(m) : backupStatus(m);
    case "summary":
      return isRestore(m, command) ? restoreSummary(m) : backupSummary(m);
    case "error": {
      const err = m.error;
      // backup/restore: {error: {message}}; check: {message} on its own.
      const message = typeof err === "object" && err !== null ? str((err as Raw).message) : (str(err) ?? str(m.message));
      const out: ItemError = { type: "error", message: message ?? "unknown error" };
      const during = str(m.during);
      const item = str(m.item);
      if (during) out.during = during;
      if (item) out.item = item;
      return out;
    }
    case "exit_error":
      return { type: "exit-error", code: num(m.code), message: str(m.message) ?? "" };
    case "verbose_status":
      return { type: "verbose-status", action: str(m.action) ?? "", item: str(m.item) ?? "" };
    case "initialized":
      return { type: "initialized", id: str(m.id) ?? "", repository: str(m.repository) ?? "" };
    default:
      return { type: "text", text: line };
  }
}

// Without a command, restore messages tell themselves apart by files_restored / bytes_restored.
function isRestore(m: Raw, command: "backup" | "restore" | undefined): boolean {
  if (command) return command === "restore";
  return "files_restored" in m || "bytes_restored" in m || "files_skipped" in m;
}

function backupStatus(m: Raw): BackupStatus {
  const out: BackupStatus = {
    type: "backup-status",
    secondsElapsed: num(m.seconds_elapsed),
    percentDone: num(m.percent_done),
    totalFiles: num(m.total_files),
    filesDone: num(m.files_done),
    totalBytes: num(m.total_bytes),
    bytesDone: num(m.bytes_done),
    errorCount: num(m.error_count),
  };
  const remaining = optNum(m.seconds_remaining);
  if (remaining !== undefined) out.secondsRemaining = remaining;
  return out;
}

function restoreStatus(m: Raw): RestoreStatus {
  return {
    type: "restore-status",
    secondsElapsed: num(m.seconds_elapsed),
    percentDone: num(m.percent_done),
    totalFiles: num(m.total_files),
    filesRestored: num(m.files_restored),
    filesSkipped: num(m.files_skipped),
    totalBytes: num(m.total_bytes),
    bytesRestored: num(m.bytes_restored),
    bytesSkipped: num(m.bytes_skipped),
  };
}

function backupSummary(m: Raw): BackupSummary {
  const out: BackupSummary = { type: "backup-summary", figures: figuresOf(m, BACKUP_FIGURES) };
  const start = str(m.backup_start);
  const id = str(m.snapshot_id);
  if (start) out.backupStart = start;
  if (id) out.snapshotId = id;
  return out;
}

function restoreSummary(m: Raw): RestoreSummary {
  return { type: "restore-summary", figures: figuresOf(m, RESTORE_FIGURES) };
}
