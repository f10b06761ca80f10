// repositories.stash.appscode.com/v1alpha1 Snapshot, as Stash names and shapes it: one object per
// restic snapshot, named `<repository>-<first 8 hex digits of the id>`, labelled
// `repository=<name>`, status with Stash's fields plus id, time, size and conditions. The operator
// writes them from what the restic repository holds (controllers/snapshots).

import type { V1ObjectMeta } from "@kubernetes/client-node";
import type { Condition } from "./conditions.ts";

export const SNAPSHOT_GROUP = "repositories.stash.appscode.com";
export const SNAPSHOT_VERSION = "v1alpha1";
export const SNAPSHOT_API_VERSION = `${SNAPSHOT_GROUP}/${SNAPSHOT_VERSION}`;
export const SNAPSHOT_KIND = "Snapshot";
export const SNAPSHOT_PLURAL = "snapshots";
/** Stash's label: `kubectl get snapshots -l repository=<name>`. */
export const SNAPSHOT_REPOSITORY_LABEL = "repository";

export interface SnapshotStatus {
  id?: string;
  repository?: string;
  time?: string;
  tree?: string;
  paths?: string[];
  hostname?: string;
  username?: string;
  uid?: number;
  gid?: number;
  tags?: string[];
  size?: string;
  conditions?: Condition[];
}

export interface Snapshot {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  status?: SnapshotStatus;
}

const NAME_MAX = 253;

/**
 * Stash's name, `<repository>-<id[:8]>`. A Repository name is at most 253 characters, so the
 * longest names are cut to keep the suffix (two Repositories that differ only past the cut share
 * the namespace and cannot both exist under one name anyway).
 */
export function snapshotObjectName(repository: string, id: string): string {
  const suffix = `-${id.slice(0, 8)}`;
  return `${repository.slice(0, NAME_MAX - suffix.length).replace(/[-.]+$/, "")}${suffix}`;
}
