// RestoreSession: restores one snapshot into a PVC with a read-only SAS. The shared flow is in
// sessions/reconciler.ts.

import { RESTORE_SESSION_PLURAL, type RestoreSession } from "../../api/backup.ts";
import { RESTORE_PERMISSIONS } from "../../azure/sas.ts";
import { buildRestoreJob, restoreJobName } from "./job.ts";
import { SessionReconciler, type SessionKind, type SessionObject } from "../sessions/reconciler.ts";
import { finishedRestoreStatus } from "../sessions/status.ts";
import { judgeRestore } from "./verdict.ts";
import type { SessionRuntime } from "../sessions/runtime.ts";

export function restoreSessionReconciler(rt: SessionRuntime): SessionReconciler<RestoreSession & SessionObject> {
  const kind: SessionKind<RestoreSession & SessionObject> = {
    kind: "RestoreSession",
    plural: RESTORE_SESSION_PLURAL,
    component: "restore",
    permissions: RESTORE_PERMISSIONS,
    jobName: restoreJobName,

    async plan(session) {
      const spec = session.spec;
      return {
        ok: true,
        repository: spec?.repository,
        target: spec?.target?.ref,
        timeOut: spec?.timeOut,
        build: (repository, credentialsSecretName, now) =>
          buildRestoreJob({ session, repository, credentialsSecretName, image: rt.deps.jobImage, options: rt.deps.jobOptions, createdAt: now }),
      };
    },

    judge: (session, outcome) => judgeRestore(session.spec?.target?.rules?.[0], outcome),

    finishedStatus(session, outcome, _target, now) {
      const created = session.metadata?.creationTimestamp ? new Date(session.metadata.creationTimestamp) : undefined;
      return finishedRestoreStatus(session.status, outcome, created, now) as Record<string, unknown>;
    },
  };
  return new SessionReconciler(rt, kind);
}
