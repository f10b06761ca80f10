// The backup Job for a BackupSession: a pure function of the session, its BackupConfiguration, the
// Repository, the name of the credentials Secret the operator made for this Job, and the image.

import type { V1Job } from "@kubernetes/client-node";
import {
  BACKUP_SESSION_KIND,
  backupTag,
  DEFAULT_SNAPSHOT_HOST,
  hasKeepRule,
  keepFlags,
  V1BETA1_API_VERSION,
  type BackupConfiguration,
  type BackupSession,
  type RetentionPolicy,
} from "../../api/backup.ts";
import type { Repository } from "../../api/repository.ts";
import { backupExcludeArg, relativeArg, volumePath } from "../jobs/paths.ts";
import {
  VOLUME_MOUNT_PATH,
  jobName,
  repositoryArgs,
  sessionJob,
  type JobOptions,
  type SessionIdentity,
} from "../jobs/pod.ts";
import { unsupportedBackupFields, type Refusal } from "../jobs/unsupported.ts";

export interface BackupJobInput {
  session: BackupSession;
  /** The session's invoker. */
  config: BackupConfiguration;
  repository: Repository;
  /** The per-Job Secret holding CREDENTIAL_KEYS (see jobs/pod.ts). */
  credentialsSecretName: string;
  image: string;
  options?: JobOptions;
  /** When the Job is created: its timeOut ends that long after. */
  createdAt: Date;
}

export type JobBuild = { ok: true; job: V1Job } | { ok: false; refusals: Refusal[] };

export function backupJobName(sessionName: string): string {
  return jobName(sessionName, "backup");
}

export function buildBackupJob(input: BackupJobInput): JobBuild {
  const { session, config, repository, options = {} } = input;
  const namespace = session.metadata?.namespace;
  const name = session.metadata?.name;
  const uid = session.metadata?.uid;
  const configName = config.metadata?.name;
  if (!namespace || !name || !uid || !configName) {
    return { ok: false, refusals: [{ field: "metadata", message: "session and BackupConfiguration need a name, namespace and uid" }] };
  }
  const spec = config.spec;
  const refusals = unsupportedBackupFields(spec, namespace, session.spec);
  const repoArgs = repositoryArgs(repository);
  if (!repoArgs) refusals.push({ field: "spec.repository", message: `Repository "${repository.metadata?.name}" has no Azure backend` });
  if (!spec?.target || refusals.length > 0 || !repoArgs) return { ok: false, refusals };
  const target = spec.target;

  const paths: string[] = [];
  for (const p of target.paths?.length ? target.paths : ["/"]) {
    const r = volumePath(p, target.volumeMounts);
    if (r.ok) paths.push("--path", relativeArg(r.path));
  }
  const excludes: string[] = [];
  for (const p of target.exclude ?? []) {
    const r = backupExcludeArg(p, target.volumeMounts, VOLUME_MOUNT_PATH);
    if (r.ok) excludes.push("--exclude", r.path);
  }

  const args = [
    "backup",
    ...repoArgs,
    "--source",
    VOLUME_MOUNT_PATH,
    ...paths,
    ...excludes,
    "--host",
    target.alias || DEFAULT_SNAPSHOT_HOST,
    "--tag",
    backupTag(config.metadata?.namespace ?? namespace, configName),
    ...retentionArgs(spec.retentionPolicy),
  ];

  const identity: SessionIdentity = { kind: BACKUP_SESSION_KIND, apiVersion: V1BETA1_API_VERSION, name, namespace, uid };
  const job = sessionJob({
    identity,
    component: "backup",
    repository,
    repositoryName: spec.repository.name,
    spec,
    claimName: target.ref.name,
    readOnly: true,
    args,
    credentialsSecretName: input.credentialsSecretName,
    image: input.image,
    options,
    createdAt: input.createdAt,
  });
  return { ok: true, job };
}

/** The wrapper's retention flags; none when the policy has no keep rule (restic would remove nothing). */
export function retentionArgs(policy: RetentionPolicy | undefined): string[] {
  if (!policy || !hasKeepRule(policy)) return [];
  return [...keepFlags(policy), ...(policy.prune ? ["--prune"] : []), ...(policy.dryRun ? ["--dry-run"] : [])];
}
