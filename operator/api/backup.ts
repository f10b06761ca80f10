// stash.appscode.com/v1beta1 BackupConfiguration, BackupSession and RestoreSession, in Stash's shapes:
// the subset blobstash runs as Jobs, plus the fields Stash has and blobstash refuses (typed loosely,
// so the controllers can name them in a condition; see unsupported.ts). The CRD schemas in crds/ are
// the source of truth for users; these types mirror them for code.

import type { V1Affinity, V1LocalObjectReference, V1ObjectMeta, V1ResourceRequirements, V1Toleration } from "@kubernetes/client-node";
import type { Condition } from "./conditions.ts";

export const STASH_GROUP = "stash.appscode.com";
export const V1BETA1 = "v1beta1";
export const V1BETA1_API_VERSION = `${STASH_GROUP}/${V1BETA1}`;

export const BACKUP_CONFIGURATION_KIND = "BackupConfiguration";
export const BACKUP_CONFIGURATION_PLURAL = "backupconfigurations";
export const BACKUP_SESSION_KIND = "BackupSession";
export const BACKUP_SESSION_PLURAL = "backupsessions";
export const RESTORE_SESSION_KIND = "RestoreSession";
export const RESTORE_SESSION_PLURAL = "restoresessions";

/** The only target kind blobstash backs up and restores. */
export const PVC_KIND = "PersistentVolumeClaim";

/** Stash's tasks for a standalone PVC; accepted (they name what blobstash does anyway), any other task is refused. */
export const PVC_BACKUP_TASK = "pvc-backup";
export const PVC_RESTORE_TASK = "pvc-restore";

/** restic host name a snapshot gets when the target has no alias: Stash's default for a standalone PVC. */
export const DEFAULT_SNAPSHOT_HOST = "host-0";

/**
 * The restic tag every snapshot of a BackupConfiguration gets. Retention and parent selection
 * group by host and tags, so configurations sharing a repository never prune each other's
 * snapshots; restores from a shared Repository find their own namespace's snapshots by it.
 */
export function backupTag(configNamespace: string, configName: string): string {
  return `${configNamespace}/${configName}`;
}

/** Whether a backup of the namespace took a snapshot with these tags. */
export function takenInNamespace(tags: readonly string[], namespace: string): boolean {
  return tags.some((t) => t.startsWith(`${namespace}/`));
}

export interface ObjectRef {
  name: string;
  namespace?: string;
}

export interface TargetRef {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** Where the workload had the volume mounted; paths under `mountPath` are translated to paths in the PVC. */
export interface TargetVolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}

export interface TaskRef {
  name: string;
  params?: Array<{ name: string; value: string }>;
}

/** Stash's emptyDir settings for cache and temporary files. */
export interface TempDir {
  medium?: string;
  sizeLimit?: string;
  /** When true restic runs with `--no-cache`. */
  disableCaching?: boolean;
}

/** Stash's pod/container settings; blobstash honours the fields named here and refuses the rest. */
export interface RuntimeSettings {
  container?: {
    resources?: V1ResourceRequirements;
    [unsupported: string]: unknown;
  };
  pod?: {
    nodeSelector?: Record<string, string>;
    tolerations?: V1Toleration[];
    affinity?: V1Affinity;
    priorityClassName?: string;
    imagePullSecrets?: V1LocalObjectReference[];
    securityContext?: {
      runAsUser?: number;
      runAsGroup?: number;
      fsGroup?: number;
      supplementalGroups?: number[];
      [unsupported: string]: unknown;
    };
    [unsupported: string]: unknown;
  };
}

export interface RetentionPolicy {
  name: string;
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepTags?: string[];
  prune: boolean;
  dryRun?: boolean;
}

export interface BackupTarget {
  /** restic host name of the snapshots (Stash: the target's alias); DEFAULT_SNAPSHOT_HOST when empty. */
  alias?: string;
  ref: TargetRef;
  /** Paths to back up: inside the PVC (`/` is all of it), or under one of `volumeMounts`. Default: the whole PVC. */
  paths?: string[];
  /** restic exclude patterns; those starting with `/` are anchored like `paths`. */
  exclude?: string[];
  volumeMounts?: TargetVolumeMount[];
  // Stash fields blobstash refuses (workload replicas, VolumeSnapshotter, raw restic args).
  replicas?: number;
  volumeSnapshotClassName?: string;
  args?: string[];
}

export interface BackupConfigurationSpec {
  /** Stash's driver: "Restic" (default) is what blobstash runs; "VolumeSnapshotter" is refused. */
  driver?: string;
  repository: ObjectRef;
  /** Cron expression; without it only hand-made BackupSessions run. */
  schedule?: string;
  paused?: boolean;
  target?: BackupTarget;
  task?: TaskRef;
  runtimeSettings?: RuntimeSettings;
  tempDir?: TempDir;
  backupHistoryLimit?: number;
  retentionPolicy?: RetentionPolicy;
  /** Go duration ("30m", "1h30m"): the Job's activeDeadlineSeconds. */
  timeOut?: string;
  // Refused Stash fields.
  interimVolumeTemplate?: unknown;
  hooks?: unknown;
  retryConfig?: unknown;
}

export type BackupConfigurationPhase = "Ready" | "NotReady" | "Invalid";

export interface BackupConfigurationStatus {
  phase?: BackupConfigurationPhase;
  observedGeneration?: number;
  conditions?: Condition[];
  /** blobstash: the scheduled time the last BackupSession was created for (RFC 3339). */
  lastScheduleTime?: string;
  /** blobstash: the next time the schedule fires. */
  nextScheduleTime?: string;
  /** blobstash: name of the newest BackupSession of this configuration. */
  lastBackupSession?: string;
}

export interface BackupConfiguration {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: BackupConfigurationSpec;
  status?: BackupConfigurationStatus;
}

export interface Invoker {
  apiGroup?: string;
  kind: string;
  name: string;
}

export interface BackupSessionSpec {
  invoker?: Invoker;
  retryLeft?: number;
}

/**
 * PartiallyFailed (blobstash, as Velero names it): the Job finished and a snapshot exists, but not all
 * of what was asked: files restic could not read, or retention or statistics that failed afterwards.
 */
export type SessionPhase = "Pending" | "Running" | "Succeeded" | "PartiallyFailed" | "Failed";

export const SESSION_PHASES: readonly SessionPhase[] = ["Pending", "Running", "Succeeded", "PartiallyFailed", "Failed"];

/** Phases a session never leaves. */
export const FINISHED_PHASES: readonly SessionPhase[] = ["Succeeded", "PartiallyFailed", "Failed"];

export function isFinishedPhase(phase: string | undefined): boolean {
  return (FINISHED_PHASES as readonly string[]).includes(phase ?? "");
}

export interface FileStats {
  totalFiles?: number;
  newFiles?: number;
  modifiedFiles?: number;
  unmodifiedFiles?: number;
}

/** One snapshot a backup made, as Stash reports it (sizes and times as human-readable strings). */
export interface SnapshotStats {
  /** The snapshot id. */
  name?: string;
  path?: string;
  /** Size of the data the snapshot covers, e.g. "1.2 GiB". */
  totalSize?: string;
  /** What this backup added to the repository. */
  uploaded?: string;
  /** Go duration, e.g. "1m2s". */
  processingTime?: string;
  fileStats?: FileStats;
}

export type HostPhase = "Succeeded" | "PartiallyFailed" | "Failed";

export interface HostBackupStats {
  hostname?: string;
  phase?: HostPhase;
  snapshots?: SnapshotStats[];
  duration?: string;
  error?: string;
}

export interface BackupTargetStatus {
  ref?: TargetRef;
  totalHosts?: number;
  phase?: SessionPhase;
  stats?: HostBackupStats[];
  conditions?: Condition[];
}

export interface BackupSessionStatus {
  phase?: SessionPhase;
  /** Go duration from creation to completion. */
  sessionDuration?: string;
  sessionDeadline?: string;
  targets?: BackupTargetStatus[];
  conditions?: Condition[];
  /** blobstash: the Repository the session wrote to (the invoker's), for `kubectl get`. */
  repository?: string;
  /** blobstash: the snapshot made, for `kubectl get` (also in targets[0].stats[0].snapshots[0].name). */
  snapshot?: string;
  /** blobstash: files restic could not read (left out of the snapshot), and the first of their paths. */
  unreadableFiles?: UnreadableFiles;
}

export interface UnreadableFiles {
  count: number;
  /** Paths inside the volume, at most 10. */
  paths?: string[];
}

export interface BackupSession {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: BackupSessionSpec;
  status?: BackupSessionStatus;
}

export interface RestoreRule {
  /** Stash: hosts this rule restores to; only meaningful for workload replicas, refused when set. */
  targetHosts?: string[];
  /** restic host whose snapshots `latest` picks from; any host when empty. */
  sourceHost?: string;
  /** One snapshot: an id (or unique prefix) or `latest`. Default `latest`. */
  snapshots?: string[];
  /** Restore only these paths of the snapshot (same form as the backup's `paths`). */
  paths?: string[];
  /** restic include patterns (restore only matching files). */
  include?: string[];
  /** restic exclude patterns. restic refuses include and exclude together. */
  exclude?: string[];
}

export interface RestoreTarget {
  alias?: string;
  ref: TargetRef;
  volumeMounts?: TargetVolumeMount[];
  rules?: RestoreRule[];
  // Refused Stash fields.
  replicas?: number;
  volumeClaimTemplates?: unknown[];
  args?: string[];
}

export interface RestoreSessionSpec {
  driver?: string;
  repository: ObjectRef;
  task?: TaskRef;
  target?: RestoreTarget;
  runtimeSettings?: RuntimeSettings;
  tempDir?: TempDir;
  timeOut?: string;
  /** blobstash: restic's --overwrite for files both in the snapshot and the target. Default IfChanged. */
  overwrite?: RestoreOverwrite;
  /** blobstash: restic's --delete: remove what the target holds and the snapshot does not. Default false. */
  deleteExtraFiles?: boolean;
  interimVolumeTemplate?: unknown;
  hooks?: unknown;
}

export type RestoreOverwrite = "IfChanged" | "Always" | "IfNewer" | "Never";

export interface HostRestoreStats {
  hostname?: string;
  phase?: HostPhase;
  duration?: string;
  error?: string;
}

export interface RestoreSessionStatus {
  phase?: SessionPhase;
  totalHosts?: number;
  sessionDuration?: string;
  sessionDeadline?: string;
  stats?: HostRestoreStats[];
  conditions?: Condition[];
  /** blobstash: the id of the snapshot restored (`latest` resolved). */
  snapshot?: string;
  /** blobstash: files and bytes the restore wrote. */
  filesRestored?: number;
  bytesRestored?: number;
  filesSkipped?: number;
  filesDeleted?: number;
}

export interface RestoreSession {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: RestoreSessionSpec;
  status?: RestoreSessionStatus;
}

/**
 * restic's count rules, as a RetentionPolicy names them and as the flag both restic's `forget` and
 * the wrapper take (`--keep-last 3`).
 */
export const KEEP_COUNTS = [
  ["keepLast", "keep-last"],
  ["keepHourly", "keep-hourly"],
  ["keepDaily", "keep-daily"],
  ["keepWeekly", "keep-weekly"],
  ["keepMonthly", "keep-monthly"],
  ["keepYearly", "keep-yearly"],
] as const;

/** What decides which snapshots a retention keeps. */
export type KeepRules = Pick<RetentionPolicy, (typeof KEEP_COUNTS)[number][0] | "keepTags">;

/** The keep flags, e.g. `--keep-last 3 --keep-tag monthly`; counts of 0 are no rule. */
export function keepFlags(rules: KeepRules): string[] {
  const out: string[] = [];
  for (const [key, flag] of KEEP_COUNTS) {
    const n = rules[key];
    if (typeof n === "number" && n > 0) out.push(`--${flag}`, String(n));
  }
  for (const tag of rules.keepTags ?? []) out.push("--keep-tag", tag);
  return out;
}

/** True when any keep rule is set: without one restic's forget removes nothing, so it is skipped. */
export function hasKeepRule(rules: KeepRules | undefined): boolean {
  return rules !== undefined && keepFlags(rules).length > 0;
}
