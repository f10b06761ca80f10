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
}

export interface RepositorySpec {
  backend?: Backend;
  wipeOut?: boolean;
  usagePolicy?: UsagePolicy;
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
