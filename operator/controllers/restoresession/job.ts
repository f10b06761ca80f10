// The restore Job for a RestoreSession: a pure function of the session, the Repository, the name of
// the credentials Secret the operator made for this Job (a read+list SAS), and the image. The
// snapshot's content (PVC-relative, see jobs/paths.ts) is restored into the root of the target PVC.

import {
  RESTORE_SESSION_KIND,
  V1BETA1_API_VERSION,
  type RestoreOverwrite,
  type RestoreRule,
  type RestoreSession,
  type RestoreSessionSpec,
  type TargetVolumeMount,
} from "../../api/backup.ts";
import type { Repository } from "../../api/repository.ts";
import type { JobBuild } from "../backupsession/job.ts";
import { snapshotPattern, volumePath } from "../jobs/paths.ts";
import {
  VOLUME_MOUNT_PATH,
  jobName,
  repositoryArgs,
  sessionJob,
  type JobOptions,
  type SessionIdentity,
} from "../jobs/pod.ts";
import { unsupportedRestoreFields } from "../jobs/unsupported.ts";

export type { JobBuild } from "../backupsession/job.ts";

export interface RestoreJobInput {
  session: RestoreSession;
  repository: Repository;
  credentialsSecretName: string;
  image: string;
  options?: JobOptions;
  /** When the Job is created: its timeOut ends that long after. */
  createdAt: Date;
}

export function restoreJobName(sessionName: string): string {
  return jobName(sessionName, "restore");
}

export function buildRestoreJob(input: RestoreJobInput): JobBuild {
  const { session, repository, options = {} } = input;
  const namespace = session.metadata?.namespace;
  const name = session.metadata?.name;
  const uid = session.metadata?.uid;
  if (!namespace || !name || !uid) {
    return { ok: false, refusals: [{ field: "metadata", message: "the RestoreSession needs a name, namespace and uid" }] };
  }
  const spec = session.spec;
  const refusals = unsupportedRestoreFields(spec, namespace);
  const repoArgs = repositoryArgs(repository);
  if (!repoArgs) refusals.push({ field: "spec.repository", message: `Repository "${repository.metadata?.name}" has no Azure backend` });
  if (!spec?.target || refusals.length > 0 || !repoArgs) return { ok: false, refusals };
  const target = spec.target;
  const rule = target.rules?.[0] ?? {};

  const args = [
    "restore",
    ...repoArgs,
    ...ruleArgs(rule, target.volumeMounts),
    ...snapshotNamespaceArgs(namespace, repository),
    "--target",
    VOLUME_MOUNT_PATH,
    ...existingDataArgs(spec),
  ];

  const identity: SessionIdentity = { kind: RESTORE_SESSION_KIND, apiVersion: V1BETA1_API_VERSION, name, namespace, uid };
  const job = sessionJob({
    identity,
    component: "restore",
    repository,
    repositoryName: spec.repository.name,
    spec,
    claimName: target.ref.name,
    readOnly: false,
    args,
    credentialsSecretName: input.credentialsSecretName,
    image: input.image,
    options,
    createdAt: input.createdAt,
  });
  return { ok: true, job };
}

/**
 * A session restoring from another namespace's Repository sees only its own namespace's snapshots
 * (those its BackupConfigurations tagged "<namespace>/<name>"), unless the Repository's owner lets
 * it see all. The wrapper applies the filter while it resolves the snapshot.
 */
export function snapshotNamespaceArgs(sessionNamespace: string, repository: Repository): string[] {
  const own = repository.metadata?.namespace === sessionNamespace;
  return own || repository.spec?.usagePolicy?.snapshots?.from === "All" ? [] : ["--snapshot-namespace", sessionNamespace];
}

/** Snapshot selection and filters of one rule, as wrapper flags. `paths` become anchored includes. */
export function ruleArgs(rule: RestoreRule, mounts: readonly TargetVolumeMount[] | undefined): string[] {
  const out = ["--snapshot", rule.snapshots?.[0] ?? "latest"];
  if (rule.sourceHost) out.push("--snapshot-host", rule.sourceHost);
  const includes: string[] = [];
  for (const p of rule.paths ?? []) {
    const r = volumePath(p, mounts);
    // The whole volume: no filter at all.
    if (r.ok && r.path !== "") includes.push(`/${r.path}`);
  }
  for (const p of rule.include ?? []) {
    const r = snapshotPattern(p, mounts);
    if (r.ok) includes.push(r.path);
  }
  for (const p of includes) out.push("--include", p);
  for (const p of rule.exclude ?? []) {
    const r = snapshotPattern(p, mounts);
    if (r.ok) out.push("--exclude", r.path);
  }
  return out;
}

const OVERWRITE_FLAG: Record<RestoreOverwrite, string> = { IfChanged: "if-changed", Always: "always", IfNewer: "if-newer", Never: "never" };

/**
 * What happens to what the target already holds. The default is stated, not left to restic's: files
 * in the snapshot get the snapshot's data where they differ (a restore brings the snapshot back),
 * files only in the volume are kept (deleting is never a default).
 */
export function existingDataArgs(spec: Pick<RestoreSessionSpec, "overwrite" | "deleteExtraFiles">): string[] {
  return ["--overwrite", OVERWRITE_FLAG[spec.overwrite ?? "IfChanged"] ?? "if-changed", ...(spec.deleteExtraFiles ? ["--delete"] : [])];
}
