// stash.appscode.com/v1alpha1 Repository, in Stash's shape plus conditions and lastValidationTime.
// The CRD schema in crds/repositories.stash.appscode.com.yaml is the source of truth for users;
// these types mirror it for code.

import type { V1ObjectMeta } from "@kubernetes/client-node";
import type { Condition } from "./conditions.ts";

export const REPOSITORY_GROUP = "stash.appscode.com";
export const REPOSITORY_VERSION = "v1alpha1";
export const REPOSITORY_API_VERSION = `${REPOSITORY_GROUP}/${REPOSITORY_VERSION}`;
export const REPOSITORY_KIND = "Repository";
export const REPOSITORY_PLURAL = "repositories";

/** restic's default for azure.connections, and the CRD's default for maxConnections. */
export const DEFAULT_MAX_CONNECTIONS = 5;

/** Held while `wipeOut: true`, so the restic data under the prefix is deleted before the object goes. */
export const WIPE_OUT_FINALIZER = "blobstash.io/wipe-out";

export interface AzureSpec {
  container: string;
  /** Path inside the container; Stash writes it with a leading slash. See `normalizePrefix`. */
  prefix?: string;
  maxConnections?: number;
}

export interface Backend {
  storageSecretName?: string;
  azure?: AzureSpec;
  // Other backends (s3, gcs, b2, swift, rest, local) are accepted and left to whoever owns them.
  [other: string]: unknown;
}

export interface UsagePolicy {
  allowedNamespaces?: {
    from?: "Same" | "All" | "Selector";
    selector?: {
      matchLabels?: Record<string, string>;
      matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
    };
  };
  /**
   * blobstash's own: which snapshots a RestoreSession of another allowed namespace may restore.
   * Same (the default): only those its own namespace's BackupConfigurations took. All: any.
   */
  snapshots?: { from?: "Same" | "All" };
}

/** blobstash's own: when `restic check` runs (controllers/maintenance). */
export interface IntegrityCheckSpec {
  /** Cron, UTC, as a BackupConfiguration's schedule. No schedule: checks run only when asked for. */
  schedule?: string;
  /** restic's --read-data-subset: "10%" (random packs each run) or "n/t" ("1/4": the operator reads part 1, 2, 3, 4, 1, … in turn). */
  readDataSubset?: string;
  /** The check Job's deadline, e.g. 2h. */
  timeOut?: string;
}

export interface RepositorySpec {
  backend?: Backend;
  wipeOut?: boolean;
  usagePolicy?: UsagePolicy;
  integrityCheck?: IntegrityCheckSpec;
}

/** Set (to any new value, e.g. a date) to run one integrity check now, as a hand-made BackupSession runs a backup. */
export const ANNOTATION_CHECK_NOW = "blobstash.io/check-now";

/** What the last `restic check` found (status.lastCheck). */
export interface LastCheck {
  /** Name of the check Job it came from, so a result is taken once. */
  job: string;
  time: string;
  /** Passed, Damaged (restic found errors), or Failed (the check could not run: network, credentials, …). */
  result: "Passed" | "Damaged" | "Failed";
  reason: string;
  message: string;
  readDataSubset?: string;
  /** The check-now annotation value this check answered, if it was asked for. */
  request?: string;
  /** Scheduled time this check ran for (RFC 3339), if scheduled. */
  scheduledFor?: string;
}

export type RepositoryConditionType = "SecretValid" | "BackendReachable" | "RepositoryInitialized" | "PasswordValid" | "Ready";

export const REPOSITORY_CONDITION_TYPES: readonly RepositoryConditionType[] = [
  "SecretValid",
  "BackendReachable",
  "RepositoryInitialized",
  "PasswordValid",
  "Ready",
];

export type RepositoryCondition = Condition<RepositoryConditionType>;

export interface RepositoryStatus {
  observedGeneration?: number;
  firstBackupTime?: string;
  lastBackupTime?: string;
  integrity?: boolean;
  /** Human-readable size as Stash shows it, e.g. "1.2 GiB". */
  totalSize?: string;
  snapshotCount?: number;
  snapshotsRemovedOnLastCleanup?: number;
  conditions?: RepositoryCondition[];
  /** When the operator last validated the Secret and backend and the outcome changed (see the reconciler). */
  lastValidationTime?: string;
  lastCheck?: LastCheck;
}

export interface Repository {
  apiVersion?: string;
  kind?: string;
  /** V1ObjectMeta for compatibility with client-node; timestamps arrive as strings from watches. */
  metadata?: V1ObjectMeta;
  spec?: RepositorySpec;
  status?: RepositoryStatus;
}

/**
 * The prefix as restic uses it: restic's azure backend does path.Clean and drops the leading slash,
 * so "/demo/x/" and "demo/x" name the same repository. Empty means the container root.
 */
export function normalizePrefix(prefix: string | undefined): string {
  const parts: string[] = [];
  for (const part of (prefix ?? "").split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

/** Azure's limits on a blob name: 1,024 characters, 254 path segments. */
export const AZURE_MAX_BLOB_NAME = 1024;
export const AZURE_MAX_PATH_SEGMENTS = 254;
/** The longest name restic writes below the prefix: "/snapshots/<64 hex>" (75); "/data/ab/<64 hex>" has the most segments (3). */
const RESTIC_NAME_TAIL = 75;
const RESTIC_NAME_SEGMENTS = 3;
/** The longest normalized prefix whose restic blob names all fit Azure's limit. */
export const MAX_PREFIX_LENGTH = AZURE_MAX_BLOB_NAME - RESTIC_NAME_TAIL;

/** Why restic could not keep a repository under this prefix in Azure, or undefined. */
export function prefixProblem(prefix: string | undefined): string | undefined {
  const p = normalizePrefix(prefix);
  if (p.length > MAX_PREFIX_LENGTH) {
    return `spec.backend.azure.prefix is ${p.length} characters long (without leading and trailing slashes); restic adds up to ${RESTIC_NAME_TAIL} (/snapshots/<id>) and Azure refuses blob names longer than ${AZURE_MAX_BLOB_NAME}, so it can be at most ${MAX_PREFIX_LENGTH}: shorten it`;
  }
  const segments = p === "" ? 0 : p.split("/").length;
  if (segments + RESTIC_NAME_SEGMENTS > AZURE_MAX_PATH_SEGMENTS) {
    return `spec.backend.azure.prefix has ${segments} path segments; restic adds ${RESTIC_NAME_SEGMENTS} (data/<xx>/<id>) and Azure allows ${AZURE_MAX_PATH_SEGMENTS} in a blob name: use at most ${AZURE_MAX_PATH_SEGMENTS - RESTIC_NAME_SEGMENTS}`;
  }
  return undefined;
}

/**
 * Whether two prefixes (in one container of one account) overlap: the same after normalization, or
 * one inside the other on a path boundary ("" holds everything). Returns how, or undefined.
 */
export function prefixOverlap(mine: string | undefined, other: string | undefined): "same" | "inside" | "contains" | undefined {
  const a = normalizePrefix(mine);
  const b = normalizePrefix(other);
  if (a === b) return "same";
  if (a === "" || b.startsWith(`${a}/`)) return "contains";
  if (b === "" || a.startsWith(`${b}/`)) return "inside";
  return undefined;
}

/** Blob name of a restic file under the repository prefix, e.g. `demo/x/config`. */
export function repositoryPath(prefix: string | undefined, ...rest: string[]): string {
  return [normalizePrefix(prefix), ...rest].filter((s) => s !== "").join("/");
}

/** The restic repository string for a Repository, e.g. `azure:stash-backup:/demo/deployment/my-deploy`. */
export function resticRepositoryUrl(azure: AzureSpec): string {
  return `azure:${azure.container}:/${normalizePrefix(azure.prefix)}`;
}

/** The Secret the Repository reads, or undefined when it names none. */
export function storageSecretNameOf(repo: Repository): string | undefined {
  return repo.spec?.backend?.storageSecretName || undefined;
}

/** True when the Repository uses Azure; other backends are left to other controllers. */
export function isAzureRepository(repo: Repository): boolean {
  return !!repo.spec?.backend?.azure;
}
