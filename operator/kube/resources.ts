// The resource types the operator reads and writes, and their REST paths.

import { REPOSITORY_GROUP, REPOSITORY_PLURAL, REPOSITORY_VERSION } from "../api/repository.ts";
import { BACKUP_CONFIGURATION_PLURAL, BACKUP_SESSION_PLURAL, RESTORE_SESSION_PLURAL, STASH_GROUP, V1BETA1 } from "../api/backup.ts";

export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
}

const core = (plural: string): ResourceType => ({ group: "", version: "v1", plural });

export const NAMESPACES = core("namespaces");
export const SECRETS = core("secrets");
export const PODS = core("pods");
export const NODES = core("nodes");
export const EVENTS = core("events");
export const PVCS = core("persistentvolumeclaims");
export const JOBS: ResourceType = { group: "batch", version: "v1", plural: "jobs" };
export const LEASES: ResourceType = { group: "coordination.k8s.io", version: "v1", plural: "leases" };
export const REPOSITORIES: ResourceType = { group: REPOSITORY_GROUP, version: REPOSITORY_VERSION, plural: REPOSITORY_PLURAL };
export const BACKUP_CONFIGURATIONS: ResourceType = { group: STASH_GROUP, version: V1BETA1, plural: BACKUP_CONFIGURATION_PLURAL };
export const BACKUP_SESSIONS: ResourceType = { group: STASH_GROUP, version: V1BETA1, plural: BACKUP_SESSION_PLURAL };
export const RESTORE_SESSIONS: ResourceType = { group: STASH_GROUP, version: V1BETA1, plural: RESTORE_SESSION_PLURAL };

/** /api/v1/namespaces/ns/secrets/name, /apis/batch/v1/jobs (all namespaces), …; names are path-escaped. */
export function resourcePath(type: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const root = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  const obj = name ? `/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ""}` : "";
  return `${root}${ns}/${type.plural}${obj}`;
}
