// The Stash fields blobstash accepts in the schema but does not run, and values it cannot run. A
// session that uses one fails before any Job with a condition that names the field: silently
// ignoring a hook or a workload target would report a backup that did not back up what was asked.

import {
  PVC_BACKUP_TASK,
  PVC_KIND,
  PVC_RESTORE_TASK,
  type BackupConfigurationSpec,
  type BackupSessionSpec,
  type RestoreSessionSpec,
  type RuntimeSettings,
  type TargetRef,
  type TaskRef,
  type TempDir,
} from "../../api/backup.ts";
import { BACKUP_CONFIGURATION_KIND, STASH_GROUP } from "../../api/backup.ts";
import { parseDuration } from "../../config/duration.ts";
import { snapshotPattern, volumePath } from "./paths.ts";

export interface Refusal {
  /** JSON path of the field, e.g. `spec.hooks` or `spec.target.rules[0].include`. */
  field: string;
  /** What is wrong and what to do instead. */
  message: string;
}

const SUPPORTED_CONTAINER_SETTINGS = new Set(["resources"]);
const SUPPORTED_POD_SETTINGS = new Set(["nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets", "securityContext"]);
const SUPPORTED_POD_SECURITY = new Set(["runAsUser", "runAsGroup", "fsGroup", "supplementalGroups"]);

type CommonSpec = Pick<BackupConfigurationSpec & RestoreSessionSpec, "driver" | "task" | "hooks" | "interimVolumeTemplate" | "timeOut" | "runtimeSettings" | "tempDir">;

/** The Stash fields backup and restore specs share; `hint` ends the hooks and interim-volume messages. */
function commonSpec(spec: CommonSpec, expectedTask: string, hint: { hooks: string; interim: string }, out: Refusal[]): void {
  driver(spec.driver, out);
  task(spec.task, expectedTask, out);
  if (spec.hooks !== undefined) out.push({ field: "spec.hooks", message: `hooks are not supported${hint.hooks}` });
  if (spec.interimVolumeTemplate !== undefined) out.push({ field: "spec.interimVolumeTemplate", message: `interim volumes are not supported; blobstash ${hint.interim}` });
  if (spec.timeOut !== undefined) timeOut(spec.timeOut, out);
  runtimeSettings(spec.runtimeSettings, out);
  tempDir(spec.tempDir, out);
}

/** The target's PVC reference and the workload-only fields; false when there is no target at all. */
function commonTarget<T extends { ref?: TargetRef; replicas?: number; args?: string[] }>(target: T | undefined, namespace: string, out: Refusal[]): target is T {
  if (!target) {
    out.push({ field: "spec.target", message: "a target is required: spec.target.ref naming a PersistentVolumeClaim" });
    return false;
  }
  targetRef(target.ref, namespace, out);
  if (target.replicas !== undefined) out.push({ field: "spec.target.replicas", message: "replicas apply to workload targets, which are not supported" });
  if (target.args !== undefined && target.args.length > 0) out.push({ field: "spec.target.args", message: "extra restic arguments are not supported" });
  return true;
}

/** Refusals for the BackupConfiguration a BackupSession runs (and the session's own spec, if given). */
export function unsupportedBackupFields(spec: BackupConfigurationSpec | undefined, namespace: string, session?: BackupSessionSpec): Refusal[] {
  const out: Refusal[] = [];
  if (session?.invoker && session.invoker.kind !== BACKUP_CONFIGURATION_KIND) {
    out.push({ field: "spec.invoker.kind", message: `invoker kind "${session.invoker.kind}" is not supported; blobstash runs sessions of a BackupConfiguration` });
  }
  if (session?.invoker?.apiGroup && session.invoker.apiGroup !== STASH_GROUP) {
    out.push({ field: "spec.invoker.apiGroup", message: `invoker apiGroup "${session.invoker.apiGroup}" is not ${STASH_GROUP}, whose BackupConfigurations blobstash runs` });
  }
  if (!spec) return [...out, { field: "spec", message: "the BackupConfiguration has no spec" }];
  if (spec.retryConfig !== undefined) out.push({ field: "spec.retryConfig", message: "retryConfig is not supported; the next scheduled session runs regardless of this one" });
  commonSpec(spec, PVC_BACKUP_TASK, { hooks: "; run pre/post actions outside the backup (for example in the workload)", interim: "backs up PersistentVolumeClaims directly" }, out);
  const target = spec.target;
  if (!commonTarget(target, namespace, out)) return out;
  if (target.volumeSnapshotClassName !== undefined) out.push({ field: "spec.target.volumeSnapshotClassName", message: "VolumeSnapshotter backups are not supported" });
  (target.paths ?? []).forEach((p, i) => {
    const r = volumePath(p, target.volumeMounts);
    if (!r.ok) out.push({ field: `spec.target.paths[${i}]`, message: r.error });
  });
  (target.exclude ?? []).forEach((p, i) => {
    if (!p.startsWith("/")) return;
    const r = volumePath(p, target.volumeMounts);
    if (!r.ok) out.push({ field: `spec.target.exclude[${i}]`, message: r.error });
  });
  if (target.alias !== undefined && /[\s,]/.test(target.alias)) {
    out.push({ field: "spec.target.alias", message: "the alias becomes restic's host name and must not contain spaces or commas" });
  }
  return out;
}

/** Refusals for a RestoreSession. */
export function unsupportedRestoreFields(spec: RestoreSessionSpec | undefined, namespace: string): Refusal[] {
  const out: Refusal[] = [];
  if (!spec) return [{ field: "spec", message: "the RestoreSession has no spec" }];
  commonSpec(spec, PVC_RESTORE_TASK, { hooks: "", interim: "restores into PersistentVolumeClaims directly" }, out);
  const target = spec.target;
  if (!commonTarget(target, namespace, out)) return out;
  if (target.volumeClaimTemplates !== undefined) out.push({ field: "spec.target.volumeClaimTemplates", message: "volumeClaimTemplates are not supported; create the PVC and name it in spec.target.ref" });
  const rules = target.rules ?? [];
  if (rules.length > 1) out.push({ field: "spec.target.rules", message: `only one rule is supported (found ${rules.length}); use one RestoreSession per rule` });
  rules.forEach((rule, i) => {
    const at = `spec.target.rules[${i}]`;
    if (rule.targetHosts !== undefined && rule.targetHosts.length > 0) {
      out.push({ field: `${at}.targetHosts`, message: "targetHosts apply to workload replicas, which are not supported" });
    }
    if ((rule.snapshots?.length ?? 0) > 1) out.push({ field: `${at}.snapshots`, message: "name one snapshot (an id or \"latest\") per RestoreSession" });
    for (const s of rule.snapshots ?? []) {
      if (s !== "latest" && !/^[0-9a-f]{4,64}$/.test(s)) out.push({ field: `${at}.snapshots`, message: `"${s}" is neither "latest" nor a snapshot id (hex)` });
    }
    if (rule.sourceHost !== undefined && /[\s,]/.test(rule.sourceHost)) out.push({ field: `${at}.sourceHost`, message: "sourceHost must not contain spaces or commas" });
    const includes = (rule.include?.length ?? 0) + (rule.paths?.length ?? 0);
    if (includes > 0 && (rule.exclude?.length ?? 0) > 0) {
      out.push({
        field: `${at}.exclude`,
        message: "restic cannot combine include patterns (include, paths) with exclude patterns in one restore; use one kind",
      });
    }
    (rule.paths ?? []).forEach((p, j) => {
      const r = volumePath(p, target.volumeMounts);
      if (!r.ok) out.push({ field: `${at}.paths[${j}]`, message: r.error });
    });
    for (const key of ["include", "exclude"] as const) {
      (rule[key] ?? []).forEach((p, j) => {
        const r = snapshotPattern(p, target.volumeMounts);
        if (!r.ok) out.push({ field: `${at}.${key}[${j}]`, message: r.error });
      });
    }
  });
  return out;
}

function driver(d: string | undefined, out: Refusal[]): void {
  if (d !== undefined && d !== "Restic") out.push({ field: "spec.driver", message: `driver "${d}" is not supported; blobstash runs restic (driver "Restic")` });
}

function task(t: TaskRef | undefined, allowed: string, out: Refusal[]): void {
  if (!t) return;
  if (t.name !== allowed) out.push({ field: "spec.task", message: `task "${t.name}" is not supported; leave spec.task out (or name "${allowed}")` });
  else if (t.params && t.params.length > 0) out.push({ field: "spec.task.params", message: "task params are not supported" });
}

function timeOut(t: string, out: Refusal[]): void {
  const ms = parseDuration(t);
  if (ms === undefined || ms < 1000) out.push({ field: "spec.timeOut", message: `timeOut "${t}" is not a duration of at least 1s, such as "30m" or "1h30m"` });
}

function targetRef(ref: TargetRef | undefined, namespace: string, out: Refusal[]): void {
  if (!ref) {
    out.push({ field: "spec.target.ref", message: "spec.target.ref must name a PersistentVolumeClaim" });
    return;
  }
  if (ref.kind !== PVC_KIND) {
    out.push({ field: "spec.target.ref.kind", message: `target kind "${ref.kind}" is not supported; blobstash backs up and restores PersistentVolumeClaims (kind: ${PVC_KIND})` });
  }
  if (ref.namespace && ref.namespace !== namespace) {
    out.push({ field: "spec.target.ref.namespace", message: `the PersistentVolumeClaim must be in the session's namespace "${namespace}" (a Pod cannot mount a claim from "${ref.namespace}")` });
  }
}

function runtimeSettings(rs: RuntimeSettings | undefined, out: Refusal[]): void {
  for (const key of Object.keys(rs ?? {})) {
    if (key !== "container" && key !== "pod") out.push({ field: `spec.runtimeSettings.${key}`, message: "not supported" });
  }
  for (const key of Object.keys(rs?.container ?? {})) {
    if (!SUPPORTED_CONTAINER_SETTINGS.has(key)) out.push({ field: `spec.runtimeSettings.container.${key}`, message: "not supported (only resources)" });
  }
  for (const key of Object.keys(rs?.pod ?? {})) {
    if (!SUPPORTED_POD_SETTINGS.has(key)) {
      out.push({ field: `spec.runtimeSettings.pod.${key}`, message: `not supported (only ${[...SUPPORTED_POD_SETTINGS].join(", ")})` });
    }
  }
  const sc = rs?.pod?.securityContext ?? {};
  for (const key of Object.keys(sc)) {
    if (!SUPPORTED_POD_SECURITY.has(key)) {
      out.push({ field: `spec.runtimeSettings.pod.securityContext.${key}`, message: `not supported (only ${[...SUPPORTED_POD_SECURITY].join(", ")}); Job pods always run non-root` });
    }
  }
  if (sc.runAsUser === 0) out.push({ field: "spec.runtimeSettings.pod.securityContext.runAsUser", message: "Job pods run as non-root; use fsGroup or a non-zero runAsUser that can read the volume" });
}

function tempDir(t: TempDir | undefined, out: Refusal[]): void {
  if (t?.medium !== undefined && t.medium !== "" && t.medium !== "Memory") {
    out.push({ field: "spec.tempDir.medium", message: `medium "${t.medium}" is not an emptyDir medium ("" or "Memory")` });
  }
}
