// What backup and restore Jobs share: names, labels, the pod's security settings, volumes, and how
// credentials reach the wrapper. Everything here is pure; the session builders assemble it.

import type { V1EnvVar, V1Job, V1OwnerReference, V1PodSecurityContext, V1ResourceRequirements, V1SecurityContext, V1Volume } from "@kubernetes/client-node";
import type { RuntimeSettings, TempDir } from "../../api/backup.ts";
import {
  LABEL_COMPONENT,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  LABEL_REPOSITORY,
  LABEL_REPOSITORY_NAMESPACE,
  LABEL_SESSION,
  LABEL_SESSION_KIND,
  MANAGED_BY,
  labelValue,
  shortHash,
} from "../../api/labels.ts";
import { DEFAULT_MAX_CONNECTIONS, resticRepositoryUrl, type Repository } from "../../api/repository.ts";
import { parseDuration } from "../../config/duration.ts";
import { EXTRA_CA_ENV } from "../../restic/trust.ts";
import { MEMORY_LIMIT_ENV } from "../../restic/memory.ts";

/** Where the target PVC is mounted in a Job pod. */
export const VOLUME_MOUNT_PATH = "/blobstash/volume";
/** An emptyDir for restic's cache and temporary files (the root filesystem is read-only). */
export const SCRATCH_MOUNT_PATH = "/blobstash/scratch";
export const CACHE_DIR = `${SCRATCH_MOUNT_PATH}/cache`;
export const TMP_DIR = `${SCRATCH_MOUNT_PATH}/tmp`;
export const TERMINATION_LOG = "/dev/termination-log";

export const VOLUME_NAME = "target";
export const SCRATCH_NAME = "scratch";
export const CONTAINER_NAME = "restic";

/** Where the extra CA bundle (the operator's --extra-ca-file) is mounted from the per-Job Secret. */
export const CA_MOUNT_PATH = "/blobstash/ca";
export const CA_KEY = "ca.crt";
export const CA_VOLUME_NAME = "trust";

/**
 * What a backup needs beyond uid 0 to read every file whatever its owner and mode (the mount is
 * read-only, so this reads and cannot write), and what a restore needs to give files back their
 * owners, groups, modes and setgid bits. Both lists stay inside what the Pod Security Standard
 * `baseline` allows (DAC_READ_SEARCH, the narrower read-only capability, is not on it).
 */
export const BACKUP_CAPABILITIES = ["DAC_OVERRIDE"];
export const RESTORE_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID"];

/** Keys of the per-Job credentials Secret, which are also the env var names the wrapper and restic read. */
export const CREDENTIAL_KEYS = ["RESTIC_PASSWORD", "AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_SAS", "AZURE_ENDPOINT_SUFFIX"] as const;
export type CredentialKey = (typeof CREDENTIAL_KEYS)[number];
/**
 * The operator's own proxy settings, passed on to restic through the same Secret when set (a proxy
 * URL may carry a password, so never as a literal in the Job spec).
 */
export const PROXY_KEYS = ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"] as const;

/**
 * Data keys of the Secret the operator creates for one Job (values: the repository password and a
 * SAS the operator minted or passed on, never an account key). Every key must be present; the
 * endpoint suffix is the Repository's or the operator-wide default.
 */
export function jobSecretKeys(): readonly CredentialKey[] {
  return CREDENTIAL_KEYS;
}

/** Deterministic name of a Job's credentials Secret. */
export function jobSecretName(jobName: string): string {
  return `${jobName}-credentials`;
}

const NAME_MAX = 63;

/**
 * `<session>-<suffix>`, or when that is no valid DNS label (too long, dots), a readable prefix and a
 * hash of the session name: deterministic, so a restarted operator finds the Job it already made.
 * 63 characters at most, so the Job name fits in the `job-name` label its Pods get.
 */
export function jobName(sessionName: string, suffix: string): string {
  const plain = `${sessionName}-${suffix}`;
  if (plain.length <= NAME_MAX && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(plain)) return plain;
  const hash = shortHash(sessionName);
  const room = NAME_MAX - hash.length - suffix.length - 2;
  const head = sessionName
    .toLowerCase()
    .replace(/[^-a-z0-9]/g, "-")
    .slice(0, room)
    .replace(/^-+|-+$/g, "");
  return head ? `${head}-${hash}-${suffix}` : `${hash}-${suffix}`;
}

export interface SessionIdentity {
  /** BackupSession or RestoreSession. */
  kind: string;
  apiVersion: string;
  name: string;
  namespace: string;
  uid: string;
}

export function jobLabels(session: SessionIdentity, component: "backup" | "restore", repository: { name: string; namespace: string }): Record<string, string> {
  return {
    [LABEL_NAME]: "blobstash",
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_COMPONENT]: component,
    [LABEL_SESSION_KIND]: session.kind,
    [LABEL_SESSION]: labelValue(session.name),
    [LABEL_REPOSITORY]: labelValue(repository.name),
    [LABEL_REPOSITORY_NAMESPACE]: repository.namespace,
  };
}

export function ownerReference(session: SessionIdentity): V1OwnerReference {
  return { apiVersion: session.apiVersion, kind: session.kind, name: session.name, uid: session.uid, controller: true, blockOwnerDeletion: true };
}

/** Options the operator sets for every Job (from its flags / Helm values), not per session. */
export interface JobOptions {
  /** Resources when the session's runtimeSettings.container.resources says nothing. */
  resources?: V1ResourceRequirements;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** Extra non-secret env for the wrapper and restic. Never secret values. */
  extraEnv?: V1EnvVar[];
  /** The per-Job Secret carries an extra CA bundle (key ca.crt): mount it and tell the wrapper. */
  extraCa?: boolean;
  /** How often the wrapper logs progress (Go duration); default the wrapper's. */
  progressInterval?: string;
  /** Pod uid/gid when runtimeSettings say nothing; default 0 (see BACKUP_CAPABILITIES). */
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
  /** Extra labels on the Job and its Pod. */
  labels?: Record<string, string>;
  /** The timeOut of a session that sets none: its minted SAS must not outlive the Job by a day. */
  defaultTimeOut?: string;
}

/** The uid the restic container runs as: runtimeSettings, then the operator's default, then root. */
export function effectiveUid(runtime: RuntimeSettings | undefined, options: JobOptions): number {
  return runtime?.pod?.securityContext?.runAsUser ?? options.runAsUser ?? 0;
}

export function podSecurityContext(runtime: RuntimeSettings | undefined, options: JobOptions): V1PodSecurityContext {
  const sc = runtime?.pod?.securityContext ?? {};
  const uid = effectiveUid(runtime, options);
  const out: V1PodSecurityContext = {
    ...(uid !== 0 ? { runAsNonRoot: true } : {}),
    runAsUser: uid,
    runAsGroup: sc.runAsGroup ?? options.runAsGroup ?? uid,
    seccompProfile: { type: "RuntimeDefault" },
  };
  const fsGroup = sc.fsGroup ?? options.fsGroup;
  if (fsGroup !== undefined) out.fsGroup = fsGroup;
  if (sc.supplementalGroups?.length) out.supplementalGroups = sc.supplementalGroups;
  return out;
}

/**
 * Every capability dropped, then as root only those the role needs (a non-root process would lose
 * added capabilities at exec anyway, so a non-root mode adds none and says it runs as non-root).
 */
export function containerSecurityContext(uid: number, add: readonly string[]): V1SecurityContext {
  return {
    ...(uid !== 0 ? { runAsNonRoot: true } : {}),
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: uid === 0 && add.length > 0 ? { drop: ["ALL"], add: [...add] } : { drop: ["ALL"] },
  };
}

export function scratchVolume(tempDir: TempDir | undefined): V1Volume {
  const emptyDir: NonNullable<V1Volume["emptyDir"]> = {};
  if (tempDir?.medium) emptyDir.medium = tempDir.medium;
  if (tempDir?.sizeLimit) emptyDir.sizeLimit = tempDir.sizeLimit;
  return { name: SCRATCH_NAME, emptyDir };
}

export function pvcVolume(claimName: string, readOnly: boolean): V1Volume {
  return { name: VOLUME_NAME, persistentVolumeClaim: readOnly ? { claimName, readOnly: true } : { claimName } };
}

/**
 * Env of the wrapper container: credentials (and the operator's proxy settings, where it has them)
 * from the per-Job Secret by reference (the Job spec never holds a value), scratch locations for the
 * read-only root filesystem, the extra CA's path, then the operator's extras.
 */
export function wrapperEnv(secretName: string, options: Pick<JobOptions, "extraEnv" | "extraCa">): V1EnvVar[] {
  const env: V1EnvVar[] = CREDENTIAL_KEYS.map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: secretName, key } } }));
  for (const key of PROXY_KEYS) env.push({ name: key, valueFrom: { secretKeyRef: { name: secretName, key, optional: true } } });
  env.push({ name: "TMPDIR", value: TMP_DIR }, { name: "HOME", value: SCRATCH_MOUNT_PATH });
  if (options.extraCa) env.push({ name: EXTRA_CA_ENV, value: `${CA_MOUNT_PATH}/${CA_KEY}` });
  const taken = new Set(env.map((e) => e.name));
  for (const e of options.extraEnv ?? []) if (!taken.has(e.name)) env.push(e);
  return env;
}

/** restic repository string and options for an Azure Repository. */
export function repositoryArgs(repository: Repository): string[] | undefined {
  const azure = repository.spec?.backend?.azure;
  if (!azure) return undefined;
  return ["--repo", resticRepositoryUrl(azure), "--option", `azure.connections=${azure.maxConnections ?? DEFAULT_MAX_CONNECTIONS}`];
}

/**
 * The wrapper's --timeout, and --deadline: when Kubernetes will stop the Job. activeDeadlineSeconds
 * counts from the Job's start, so the wrapper cannot count from its own (it may start many seconds
 * later, after scheduling and mounting) and still write its result in time.
 */
function timeoutArgs(timeOut: string | undefined, createdAt: Date): string[] {
  const ms = timeOut === undefined ? undefined : parseDuration(timeOut);
  if (timeOut === undefined || ms === undefined) return [];
  return ["--timeout", timeOut, "--deadline", new Date(createdAt.getTime() + ms).toISOString()];
}

/** Whole seconds for activeDeadlineSeconds, or undefined when no timeOut is set. */
export function deadlineSeconds(timeOut: string | undefined): number | undefined {
  if (timeOut === undefined) return undefined;
  const ms = parseDuration(timeOut);
  return ms === undefined || ms < 1000 ? undefined : Math.ceil(ms / 1000);
}

/** The Job skeleton both builders fill: one container, never restarted, no API access. */
export function jobSkeleton(parts: {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  owner: V1OwnerReference;
  deadline: number | undefined;
  runtime: RuntimeSettings | undefined;
  options: JobOptions;
  image: string;
  args: string[];
  env: V1EnvVar[];
  volumes: V1Volume[];
  volumeReadOnly: boolean;
  capabilities: readonly string[];
}): V1Job {
  const { runtime, options } = parts;
  const pod = runtime?.pod;
  const resources = runtime?.container?.resources ?? options.resources;
  const uid = effectiveUid(runtime, options);
  const job: V1Job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: parts.name, namespace: parts.namespace, labels: parts.labels, ownerReferences: [parts.owner] },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: parts.labels },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: podSecurityContext(runtime, options),
          containers: [
            {
              name: CONTAINER_NAME,
              image: parts.image,
              command: ["blobstash"],
              args: parts.args,
              env: parts.env,
              securityContext: containerSecurityContext(uid, parts.capabilities),
              terminationMessagePath: TERMINATION_LOG,
              // When the wrapper died before writing its result, the log tail tells why.
              terminationMessagePolicy: "FallbackToLogsOnError",
              volumeMounts: [
                // Maintenance Jobs (check, forget) have no target volume.
                ...(!parts.volumes.some((v) => v.name === VOLUME_NAME)
                  ? []
                  : [parts.volumeReadOnly ? { name: VOLUME_NAME, mountPath: VOLUME_MOUNT_PATH, readOnly: true } : { name: VOLUME_NAME, mountPath: VOLUME_MOUNT_PATH }]),
                { name: SCRATCH_NAME, mountPath: SCRATCH_MOUNT_PATH },
                ...(options.extraCa ? [{ name: CA_VOLUME_NAME, mountPath: CA_MOUNT_PATH, readOnly: true }] : []),
              ],
            },
          ],
          volumes: parts.volumes,
        },
      },
    },
  };
  const container = job.spec!.template.spec!.containers[0]!;
  const podSpec = job.spec!.template.spec!;
  if (parts.deadline !== undefined) job.spec!.activeDeadlineSeconds = parts.deadline;
  if (options.imagePullPolicy) container.imagePullPolicy = options.imagePullPolicy;
  if (resources) container.resources = resources;
  // The limit reaches restic as GOMEMLIMIT (the wrapper subtracts its own share): Go collects sooner instead of being killed.
  if (resources?.limits?.memory !== undefined) {
    container.env = [...(container.env ?? []), { name: MEMORY_LIMIT_ENV, valueFrom: { resourceFieldRef: { containerName: CONTAINER_NAME, resource: "limits.memory" } } }];
  }
  if (pod?.nodeSelector) podSpec.nodeSelector = pod.nodeSelector;
  if (pod?.tolerations) podSpec.tolerations = pod.tolerations;
  if (pod?.affinity) podSpec.affinity = pod.affinity;
  if (pod?.priorityClassName) podSpec.priorityClassName = pod.priorityClassName;
  if (pod?.imagePullSecrets) podSpec.imagePullSecrets = pod.imagePullSecrets;
  return job;
}

/** What both session kinds put into their Job beyond their own restic flags. */
export interface SessionJobParts {
  identity: SessionIdentity;
  component: "backup" | "restore";
  repository: Repository;
  /** The Repository's name as the session spec gives it, when the object lacks one. */
  repositoryName: string;
  spec: { timeOut?: string; runtimeSettings?: RuntimeSettings; tempDir?: TempDir };
  claimName: string;
  /** Backups mount the PVC read-only; restores write into it. */
  readOnly: boolean;
  /** The subcommand and its own flags; the flags every wrapper run takes are appended here. */
  args: string[];
  credentialsSecretName: string;
  image: string;
  options: JobOptions;
  createdAt: Date;
}

/** The Job of a backup or restore session: shared flags, labels, owner, deadline, volumes. */
export function sessionJob(p: SessionJobParts): V1Job {
  const { identity, spec, options } = p;
  const repoRef = { name: p.repository.metadata?.name ?? p.repositoryName, namespace: p.repository.metadata?.namespace ?? identity.namespace };
  const args = [
    ...p.args,
    ...(spec.tempDir?.disableCaching ? ["--no-cache"] : ["--cache-dir", CACHE_DIR]),
    "--result-file",
    TERMINATION_LOG,
    ...timeoutArgs(spec.timeOut ?? options.defaultTimeOut, p.createdAt),
    ...(options.progressInterval ? ["--progress-interval", options.progressInterval] : []),
  ];
  return jobSkeleton({
    name: jobName(identity.name, p.component),
    namespace: identity.namespace,
    labels: { ...options.labels, ...jobLabels(identity, p.component, repoRef) },
    owner: ownerReference(identity),
    deadline: deadlineSeconds(spec.timeOut ?? options.defaultTimeOut),
    runtime: spec.runtimeSettings,
    options,
    image: p.image,
    args,
    env: wrapperEnv(p.credentialsSecretName, options),
    volumes: [
      pvcVolume(p.claimName, p.readOnly),
      scratchVolume(spec.tempDir),
      ...(options.extraCa ? [{ name: CA_VOLUME_NAME, secret: { secretName: p.credentialsSecretName, items: [{ key: CA_KEY, path: CA_KEY }] } }] : []),
    ],
    volumeReadOnly: p.readOnly,
    capabilities: p.component === "backup" ? BACKUP_CAPABILITIES : RESTORE_CAPABILITIES,
  });
}
