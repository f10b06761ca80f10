// The Jobs a Repository runs besides backups and restores: `check` (integrity) and `forget` (a
// Snapshot deleted with kubectl). Pure. They are created suspended, as a durable request: the
// maintenance reconciler lets one run (unsuspends it) when the Repository's one-Job slot is free,
// in the order the Jobs were created, queued with the backups and restores of that Repository.

import type { V1Job, V1OwnerReference } from "@kubernetes/client-node";
import { LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_NAME, LABEL_REPOSITORY, LABEL_REPOSITORY_NAMESPACE, MANAGED_BY, labelValue } from "../../api/labels.ts";
import { REPOSITORY_API_VERSION, REPOSITORY_KIND, type Repository } from "../../api/repository.ts";
import { CA_KEY, CA_VOLUME_NAME, CACHE_DIR, TERMINATION_LOG, deadlineSeconds, jobSecretName, jobName, jobSkeleton, repositoryArgs, scratchVolume, wrapperEnv, type JobOptions } from "../jobs/pod.ts";
import { validReadDataSubset } from "../../restic/maintenance.ts";

export type MaintenanceKind = "check" | "forget";

/** On a forget Job: the full id of the snapshot it forgets. */
export const LABEL_SNAPSHOT_ID = "blobstash.io/snapshot-id";
/** On a check Job: the check-now annotation value it answers, or the scheduled time (unix seconds). */
export const ANNOTATION_CHECK_TRIGGER = "blobstash.io/check-trigger";
/**
 * Finished maintenance Jobs go after this long (the TTL controller; the operator deletes no Job by
 * hand): it takes their result the moment the pod exits, and names are unique per request.
 */
export const MAINTENANCE_JOB_TTL_SECONDS = 600;

export interface MaintenanceJobInput {
  repository: Repository;
  kind: MaintenanceKind;
  /** check: which part of the data to read; forget: unused. */
  readDataSubset?: string;
  /** forget: the full snapshot id, and whether to prune. */
  snapshotId?: string;
  prune?: boolean;
  /** check: `request:<annotation>` or `schedule:<unix seconds>`. */
  trigger?: string;
  timeOut?: string;
  /** Makes the name unique: the scheduled time or request for checks. */
  nameSeed: string;
  image: string;
  options?: JobOptions;
}

export function maintenanceJobName(repositoryName: string, kind: MaintenanceKind, seed: string): string {
  return jobName(`${repositoryName}-${seed}`, kind);
}

export function repositoryOwner(repository: Repository): V1OwnerReference | undefined {
  const { name, uid } = repository.metadata ?? {};
  if (!name || !uid) return undefined;
  return { apiVersion: REPOSITORY_API_VERSION, kind: REPOSITORY_KIND, name, uid, controller: true, blockOwnerDeletion: false };
}

export type MaintenanceBuild = { ok: true; job: V1Job } | { ok: false; message: string };

export function buildMaintenanceJob(input: MaintenanceJobInput): MaintenanceBuild {
  const { repository, kind, options = {} } = input;
  const namespace = repository.metadata?.namespace;
  const repoName = repository.metadata?.name;
  const owner = repositoryOwner(repository);
  const repoArgs = repositoryArgs(repository);
  if (!namespace || !repoName || !owner) return { ok: false, message: "the Repository needs a name, namespace and uid" };
  if (!repoArgs) return { ok: false, message: `Repository ${namespace}/${repoName} has no azure backend` };
  const verb: string[] = [kind, ...repoArgs];
  if (kind === "check" && input.readDataSubset) {
    if (!validReadDataSubset(input.readDataSubset)) return { ok: false, message: `readDataSubset "${input.readDataSubset}" is neither a percentage (10%) nor n/t (1/5)` };
    verb.push("--read-data-subset", input.readDataSubset);
  }
  if (kind === "forget") {
    if (!input.snapshotId || !/^[0-9a-f]{64}$/.test(input.snapshotId)) return { ok: false, message: "a forget Job needs the snapshot's full id" };
    verb.push("--snapshot", input.snapshotId, ...(input.prune ? ["--prune"] : []));
  }
  const name = maintenanceJobName(repoName, kind, input.nameSeed);
  const secretName = jobSecretName(name);
  const labels: Record<string, string> = {
    ...options.labels,
    [LABEL_NAME]: "blobstash",
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_COMPONENT]: kind,
    [LABEL_REPOSITORY]: labelValue(repoName),
    [LABEL_REPOSITORY_NAMESPACE]: namespace,
    ...(input.snapshotId ? { [LABEL_SNAPSHOT_ID]: input.snapshotId.slice(0, 63) } : {}),
  };
  // No --deadline: the Job is created suspended, and Kubernetes starts activeDeadlineSeconds when it resumes.
  const timeOut = input.timeOut ?? options.defaultTimeOut;
  const args = [...verb, "--cache-dir", CACHE_DIR, "--result-file", TERMINATION_LOG, ...(timeOut ? ["--timeout", timeOut] : [])];
  const job = jobSkeleton({
    name,
    namespace,
    labels,
    owner,
    deadline: deadlineSeconds(timeOut),
    runtime: undefined,
    options,
    image: input.image,
    args,
    env: wrapperEnv(secretName, options),
    volumes: [scratchVolume(undefined), ...(options.extraCa ? [{ name: CA_VOLUME_NAME, secret: { secretName, items: [{ key: CA_KEY, path: CA_KEY }] } }] : [])],
    volumeReadOnly: true,
    // Reads and writes only the bucket, through its SAS: no file of anyone's to read or own.
    capabilities: [],
  });
  job.spec!.suspend = true;
  job.spec!.ttlSecondsAfterFinished = MAINTENANCE_JOB_TTL_SECONDS;
  if (input.trigger) job.metadata!.annotations = { [ANNOTATION_CHECK_TRIGGER]: input.trigger };
  return { ok: true, job };
}
