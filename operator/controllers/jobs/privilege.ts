// Which identity a Job pod runs as, and what a session must say before its Job runs when that is not
// root. Root with a few capabilities is what reads every file and gives owners back (pod.ts); a
// non-root uid is the admin's explicit choice (runtimeSettings, the operator's default) or forced by
// a namespace that enforces the Pod Security Standard `restricted`, and then some files cannot be
// read or restored as they were. Pure.

import type { V1Job } from "@kubernetes/client-node";
import type { RuntimeSettings } from "../../api/backup.ts";
import type { ConditionInput } from "../../api/conditions.ts";
import { containerSecurityContext, effectiveUid, type JobOptions } from "./pod.ts";

/** The Pod Security admission label a namespace enforces a level with. */
export const PSS_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce";
/** The image's own non-root user (Dockerfile), used where `restricted` forbids root and nobody chose a uid. */
export const RESTRICTED_DEFAULT_UID = 65532;
/** The condition a session carries when its Job runs without root's reach. */
export const NON_ROOT_CONDITION = "NonRootMode";

export type PrivilegeMode =
  | { kind: "root" }
  /** `uid`: what the Job runs as; `forced`: the Job must be changed to it (restricted namespace, nobody chose). */
  | { kind: "nonRoot"; uid: number; source: "runtimeSettings" | "operator" | "restricted"; forced: boolean }
  /** Root asked for explicitly in a namespace that forbids it: no Job could be admitted. */
  | { kind: "refused"; reason: string; message: string };

export function privilegeMode(runtime: RuntimeSettings | undefined, options: JobOptions, namespace: string, namespaceLabels: Record<string, string> | undefined): PrivilegeMode {
  const asked = runtime?.pod?.securityContext?.runAsUser;
  const uid = effectiveUid(runtime, options);
  const restricted = namespaceLabels?.[PSS_ENFORCE_LABEL] === "restricted";
  if (uid !== 0) return { kind: "nonRoot", uid, source: asked !== undefined ? "runtimeSettings" : "operator", forced: false };
  if (!restricted) return { kind: "root" };
  if (asked === 0) {
    return {
      kind: "refused",
      reason: "PodSecurityRestricted",
      message:
        `namespace ${namespace} enforces the Pod Security Standard "restricted", which admits no pod running as uid 0, ` +
        `but runtimeSettings.pod.securityContext.runAsUser asks for 0: remove it (the Job then runs as uid ${RESTRICTED_DEFAULT_UID}) or set a non-root uid`,
    };
  }
  return { kind: "nonRoot", uid: RESTRICTED_DEFAULT_UID, source: "restricted", forced: true };
}

const WHY: Record<Extract<PrivilegeMode, { kind: "nonRoot" }>["source"], string> = {
  runtimeSettings: "runtimeSettings.pod.securityContext.runAsUser asks for it",
  operator: "the operator's default Job uid is not root",
  restricted: `the namespace enforces the Pod Security Standard "restricted", which admits no root pod and no added capability`,
};

/** The condition a session gets before its Job runs in a non-root mode: what that mode cannot do, and how to avoid it. */
export function nonRootNotice(mode: PrivilegeMode, component: "backup" | "restore"): ConditionInput | undefined {
  if (mode.kind !== "nonRoot") return undefined;
  const who = `uid ${mode.uid}`;
  const cannot =
    component === "backup"
      ? `it cannot read files and directories that ${who} may not read (a 0700 database directory of another owner, 0600 files); ` +
        `restic leaves them out of the snapshot and the session ends PartiallyFailed, naming them in status.unreadableFiles`
      : `restored files and directories belong to ${who}, not to their original owners, lose setuid and setgid bits, ` +
        `and directories ${who} may not write into cannot be restored into`;
  const fix =
    mode.source === "restricted"
      ? `label the namespace to enforce "baseline" to run the Job as root with only the capabilities a ${component} needs`
      : `remove the setting to run the Job as root with only the capabilities a ${component} needs`;
  return {
    type: NON_ROOT_CONDITION,
    status: "True",
    reason: mode.source === "restricted" ? "PodSecurityRestricted" : "NonRootRequested",
    message: `the ${component} Job runs as ${who} with no capabilities because ${WHY[mode.source]}: ${cannot}. To avoid this, ${fix}.`,
  };
}

/** The Job changed to run as `uid` without added capabilities, admitted by `restricted`. */
export function withNonRootUid(job: V1Job, uid: number): V1Job {
  const out = structuredClone(job);
  const pod = out.spec?.template?.spec;
  if (!pod) return out;
  const sc = pod.securityContext ?? {};
  pod.securityContext = { ...sc, runAsNonRoot: true, runAsUser: uid, runAsGroup: sc.runAsGroup && sc.runAsGroup !== 0 ? sc.runAsGroup : uid, seccompProfile: { type: "RuntimeDefault" } };
  for (const c of pod.containers) c.securityContext = containerSecurityContext(uid, []);
  return out;
}
