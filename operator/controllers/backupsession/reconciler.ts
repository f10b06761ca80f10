// BackupSession: runs the session's BackupConfiguration once as a Job, and reports the snapshot on
// the session and the Repository. The shared flow is in sessions/reconciler.ts.

import { BACKUP_CONFIGURATIONS, REPOSITORIES } from "../../kube/resources.ts";
import { patchStatusIfChanged } from "../../kube/status.ts";
import { BACKUP_SESSION_PLURAL, type BackupConfiguration, type BackupSession } from "../../api/backup.ts";
import { REPOSITORY_API_VERSION, REPOSITORY_KIND } from "../../api/repository.ts";
import { BACKUP_PERMISSIONS } from "../../azure/sas.ts";
import { lastSuccessfulBackup, repositorySizeBytes, repositorySnapshots } from "../../observability/metrics.ts";
import { backupJobName, buildBackupJob } from "./job.ts";
import { SessionReconciler, type SessionKind, type SessionObject } from "../sessions/reconciler.ts";
import { finishedBackupStatus, repositoryFiguresFrom } from "../sessions/status.ts";
import type { SessionRuntime } from "../sessions/runtime.ts";

export function backupSessionReconciler(rt: SessionRuntime): SessionReconciler<BackupSession & SessionObject> {
  const kind: SessionKind<BackupSession & SessionObject> = {
    kind: "BackupSession",
    plural: BACKUP_SESSION_PLURAL,
    component: "backup",
    permissions: BACKUP_PERMISSIONS,
    jobName: backupJobName,

    async plan(session) {
      const namespace = session.metadata?.namespace ?? "";
      const configName = session.spec?.invoker?.name;
      if (!configName) return { ok: false, problem: { reason: "InvokerMissing", message: "spec.invoker.name must name the BackupConfiguration this session runs" } };
      const config = await rt.deps.kube.find<BackupConfiguration>(BACKUP_CONFIGURATIONS, namespace, configName);
      if (!config) return { ok: false, problem: { reason: "InvokerNotFound", message: `BackupConfiguration ${namespace}/${configName} named in spec.invoker does not exist` } };
      return {
        ok: true,
        repository: config.spec?.repository,
        target: config.spec?.target?.ref,
        timeOut: config.spec?.timeOut,
        build: (repository, credentialsSecretName, now) =>
          buildBackupJob({ session, config, repository, credentialsSecretName, image: rt.deps.jobImage, options: rt.deps.jobOptions, createdAt: now }),
      };
    },

    finishedStatus(session, outcome, target, now) {
      const created = session.metadata?.creationTimestamp ? new Date(session.metadata.creationTimestamp) : undefined;
      return finishedBackupStatus(session.status, outcome, target, created, now) as Record<string, unknown>;
    },

    async onSucceeded(result, session, repo) {
      const repository = await rt.getRepository(repo.namespace, repo.name);
      if (!repository) return;
      const figures = repositoryFiguresFrom(result, repository.status);
      const ref = { ...REPOSITORIES, ...repo };
      await patchStatusIfChanged(rt.deps.kube, ref, repository.status, figures);
      const labels = { namespace: repo.namespace, repository: repo.name };
      if (figures.lastBackupTime) lastSuccessfulBackup.set(labels, Date.parse(figures.lastBackupTime) / 1000);
      if (figures.snapshotCount !== undefined) repositorySnapshots.set(labels, figures.snapshotCount);
      if (result.repository?.totalSize !== undefined) repositorySizeBytes.set(labels, result.repository.totalSize);
      const by = `${session.metadata?.namespace}/${session.metadata?.name}`;
      rt.deps.events.record({ apiVersion: REPOSITORY_API_VERSION, kind: REPOSITORY_KIND, metadata: repository.metadata ?? {} }, "Normal", "BackupSucceeded", `snapshot ${result.snapshot?.id} by BackupSession ${by}`);
    },
  };
  return new SessionReconciler(rt, kind);
}
