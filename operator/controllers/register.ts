// Builds every controller of the operator: the informers it watches, the reconcilers, and which
// change enqueues which key. The manager (operator/manager.ts) owns the lifecycle around it.

import type { V1Job, V1Pod } from "@kubernetes/client-node";
import type { KubeClient, KubeObject } from "../kube/api-client.ts";
import { Controller } from "../kube/controller.ts";
import { InformerSet } from "../kube/informer.ts";
import { keyOf } from "../kube/client.ts";
import { SecretReader } from "../kube/secret-reader.ts";
import { BACKUP_CONFIGURATIONS, BACKUP_SESSIONS, JOBS, PODS, REPOSITORIES, RESTORE_SESSIONS, resourcePath, SECRETS, type ResourceType } from "../kube/resources.ts";
import type { EventRecorder } from "../kube/events.ts";
import { logger } from "../observability/logger.ts";
import { observeReconcile } from "../observability/metrics.ts";
import type { OperatorOptions } from "../config/options.ts";
import type { Repository } from "../api/repository.ts";
import { BACKUP_SESSION_KIND, RESTORE_SESSION_KIND, type BackupConfiguration, type BackupSession, type RestoreSession } from "../api/backup.ts";
import { LABEL_MANAGED_BY, MANAGED_BY } from "../api/labels.ts";
import { AzureClientCache } from "../azure/clients.ts";
import { RepositoryReconciler } from "./repository/reconciler.ts";
import { BackupConfigurationReconciler } from "./backupconfiguration/reconciler.ts";
import { backupSessionReconciler } from "./backupsession/reconciler.ts";
import { restoreSessionReconciler } from "./restoresession/reconciler.ts";
import { proxySettings, SessionRuntime } from "./sessions/runtime.ts";
import type { Snapshot } from "../api/snapshot.ts";
import { MaintenanceReconciler, maintenanceKindOf } from "./maintenance/reconciler.ts";
import { SNAPSHOTS, SnapshotSyncReconciler } from "./snapshots/reconciler.ts";
import { snapshotMetadata } from "./snapshots/plan.ts";
import { SnapshotSource } from "./snapshots/source.ts";

export interface Controllers {
  informers: Array<InformerSet<KubeObject>>;
  controllers: Controller[];
  /** Enqueues every known object; called when this replica becomes the leader. */
  enqueueAll: () => void;
}

export function buildControllers(kube: KubeClient, opts: OperatorOptions, events: EventRecorder, isLeader: () => boolean, clock: () => Date = () => new Date()): Controllers {
  const log = logger.child({ component: "operator" });
  const ns = opts.watchNamespaces;
  const base = { client: kube, log };

  const informer = <T extends KubeObject>(type: ResourceType, extra: { labelSelector?: string; metadataOnly?: boolean; transform?: (obj: T) => T } = {}) =>
    new InformerSet<T>({ ...base, ...extra }, ns, (n) => resourcePath(type, n));
  const repositories = informer<Repository>(REPOSITORIES);
  const configs = informer<BackupConfiguration>(BACKUP_CONFIGURATIONS);
  const backupSessions = informer<BackupSession>(BACKUP_SESSIONS);
  const restoreSessions = informer<RestoreSession>(RESTORE_SESSIONS);
  const secrets = informer<KubeObject>(SECRETS, { metadataOnly: true });
  const secretReader = new SecretReader(kube, secrets);
  const managedBy = { labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}` };
  const jobs = informer<V1Job>(JOBS, managedBy);
  // Job pods: a session is finished when its pod exits, a second before the Job controller says so.
  const pods = informer<V1Pod>(PODS, managedBy);

  // Keys are `namespace/name`; waiting keys are taken in turn across namespaces, so a tenant with a
  // thousand objects queued delays another tenant's by one key each, not by a thousand.
  const controller = (kind: string, reconcile: (namespace: string, name: string) => Promise<{ requeueAfterMs?: number }>) =>
    new Controller({ kind, workers: opts.concurrency, reconcile: (k) => reconcile(k.namespace, k.name), log, observe: observeReconcile, fairBy: (key) => key.slice(0, key.indexOf("/")) });

  // One client per credential for both: the operator's identity, if the admin lent it, is built once.
  const azureClients = new AzureClientCache(opts.azurePolicy.operatorIdentity ? { operatorIdentity: opts.azurePolicy.operatorIdentity } : {});
  const repositoryReconciler = new RepositoryReconciler({
    kube,
    clock,
    revalidateAfterMs: opts.revalidatePeriodMs,
    sasWarnBeforeMs: opts.sasWarnBeforeMs,
    azurePolicy: opts.azurePolicy,
    azureClients,
    log: logger.child({ controller: "Repository" }),
    events,
    getRepository: (namespace, name) => repositories.get(name, namespace),
    listRepositories: () => repositories.list(),
    getSecret: (namespace, name) => secretReader.get(namespace, name),
  });
  // Session Jobs and maintenance Jobs are built alike: the same CA mount, the same default timeOut.
  const jobOptions = { extraCa: opts.extraCaFile !== undefined, defaultTimeOut: opts.defaultJobTimeOut };
  const sessionRuntime = new SessionRuntime({
    kube,
    clock,
    log: logger.child({ controller: "sessions" }),
    events,
    azure: azureClients,
    azurePolicy: opts.azurePolicy,
    jobImage: opts.jobImage,
    jobOptions,
    jobTrust: { proxy: proxySettings(process.env), extraCaFile: opts.extraCaFile },
    credentialSlackMs: opts.jobCredentialSlackMs,
    repositoryWaitLimitMs: opts.repositoryWaitLimitMs,
    podStartLimitMs: opts.podStartLimitMs,
    nodeLostLimitMs: opts.nodeLostLimitMs,
    jobs,
  });
  const configReconciler = new BackupConfigurationReconciler({
    kube,
    clock,
    log: logger.child({ controller: "BackupConfiguration" }),
    events,
    sessions: backupSessions,
    minScheduleIntervalMs: opts.minScheduleIntervalMs,
  });
  // Snapshot objects and maintenance Jobs (check, forget): controllers/snapshots, controllers/maintenance.
  // Metadata only: at 100,000 Snapshots the statuses would be most of the operator's memory; the
  // sync compares the content-hash annotation instead (controllers/snapshots/plan.ts).
  const snapshots = informer<Snapshot>(SNAPSHOTS, { metadataOnly: true, transform: snapshotMetadata });
  const snapshotSync = new SnapshotSyncReconciler({
    kube,
    clock,
    log: logger.child({ controller: "Snapshot" }),
    events,
    azure: azureClients,
    source: new SnapshotSource(),
    azurePolicy: opts.azurePolicy,
    syncPeriodMs: opts.snapshotSyncPeriodMs,
    perNamespace: opts.snapshotMaxPerNamespace,
    image: opts.jobImage,
    jobOptions,
    getRepository: (namespace, name) => repositories.get(name, namespace),
    getSecret: (namespace, name) => secretReader.get(namespace, name),
    snapshots,
    jobs,
    configs,
  });
  const maintenance = new MaintenanceReconciler(sessionRuntime, { forgetFinished: (repo, job, outcome) => snapshotSync.forgetFinished(repo, job, outcome) });
  const backups = backupSessionReconciler(sessionRuntime);
  const restores = restoreSessionReconciler(sessionRuntime);

  const repositoryController = controller("Repository", (n, m) => repositoryReconciler.reconcile(n, m));
  const configController = controller("BackupConfiguration", (n, m) => configReconciler.reconcile(n, m));
  const backupController = controller(BACKUP_SESSION_KIND, (n, m) => backups.reconcile(n, m));
  const restoreController = controller(RESTORE_SESSION_KIND, (n, m) => restores.reconcile(n, m));
  const snapshotController = controller("Snapshot", (n, m) => (opts.snapshotSyncPeriodMs > 0 ? snapshotSync.reconcile(n, m) : Promise.resolve({})));
  const maintenanceController = controller("MaintenanceJob", (n, m) => maintenance.reconcile(n, m));

  const on = <T extends KubeObject>(informer: InformerSet<T>, handler: (obj: T) => void, events: Array<"add" | "update" | "delete"> = ["add", "update", "delete"]) => {
    for (const ev of events) informer.on(ev, (obj) => isLeader() && handler(obj));
  };
  on(repositories, (r) => {
    repositoryController.enqueue(keyOf(r));
    // After a backup (status changed), a check-now annotation, a new schedule: look at it now.
    snapshotController.enqueue(keyOf(r));
  }, ["add", "update"]);
  repositories.on("delete", (r) => {
    repositoryReconciler.forgetRepository(r.metadata?.namespace ?? "", r.metadata?.name ?? "");
    snapshotSync.forgetRepository(r.metadata?.namespace ?? "", r.metadata?.name ?? "");
  });
  on(snapshots, (s) => {
    const key = snapshotSync.snapshotDeleted(s);
    // A moment's delay: a namespace or Repository deletion shows on them before the decision.
    if (key) snapshotController.queue.addAfter(key, 1000);
  }, ["delete"]);
  // A Secret edit re-checks, at once, every Repository in its namespace that names it.
  on(secrets, (s) => {
    for (const repo of repositories.list(s.metadata?.namespace)) {
      if (repo.spec?.backend?.storageSecretName === s.metadata?.name) repositoryController.enqueue(keyOf(repo));
    }
  });
  on(configs, (c) => configController.enqueue(keyOf(c)), ["add", "update"]);
  on(backupSessions, (s) => {
    backupController.enqueue(keyOf(s));
    // A session that finished may push an older one past backupHistoryLimit.
    const invoker = s.spec?.invoker?.name;
    if (invoker) configController.enqueue(`${s.metadata?.namespace}/${invoker}`);
  }, ["add", "update"]);
  on(restoreSessions, (s) => restoreController.enqueue(keyOf(s)), ["add", "update"]);
  const enqueueSessionOf = (j: V1Job | undefined) => {
    const owner = j?.metadata?.ownerReferences?.find((o) => o.controller);
    const key = `${j?.metadata?.namespace}/${owner?.name}`;
    if (owner?.kind === BACKUP_SESSION_KIND) backupController.enqueue(key);
    if (owner?.kind === RESTORE_SESSION_KIND) restoreController.enqueue(key);
  };
  const enqueueMaintenance = (j: V1Job | undefined) => {
    if (!j || !maintenanceKindOf(j)) return false;
    maintenanceController.enqueue(keyOf(j));
    return true;
  };
  on(jobs, (j) => {
    if (!enqueueMaintenance(j)) enqueueSessionOf(j);
  });
  // A finished forget changes what the repository holds.
  jobs.on("delete", (j) => {
    const owner = j.metadata?.ownerReferences?.find((o) => o.kind === "Repository");
    if (isLeader() && maintenanceKindOf(j) === "forget" && owner) snapshotController.enqueue(`${j.metadata?.namespace}/${owner.name}`);
  });
  jobs.on("delete", (j) => sessionRuntime.jobDeleted(j));
  on(pods, (p) => {
    // A finished pod finishes its session; a pending one may have a scheduler's or kubelet's reason to show.
    if (p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed" && p.status?.phase !== "Pending") return;
    const jobName = p.metadata?.ownerReferences?.find((o) => o.controller && o.kind === "Job")?.name;
    const job = jobName ? jobs.get(jobName, p.metadata?.namespace ?? "") : undefined;
    if (!enqueueMaintenance(job)) enqueueSessionOf(job);
  }, ["add", "update"]);

  const informers = [repositories, secrets, configs, backupSessions, restoreSessions, jobs, pods, snapshots] as unknown as Array<InformerSet<KubeObject>>;
  return {
    informers,
    controllers: [repositoryController, configController, backupController, restoreController, snapshotController, maintenanceController],
    enqueueAll() {
      for (const r of repositories.list()) repositoryController.enqueue(keyOf(r));
      for (const c of configs.list()) configController.enqueue(keyOf(c));
      for (const s of backupSessions.list()) backupController.enqueue(keyOf(s));
      for (const s of restoreSessions.list()) restoreController.enqueue(keyOf(s));
      for (const r of repositories.list()) snapshotController.enqueue(keyOf(r));
      for (const j of jobs.list()) enqueueMaintenance(j);
    },
  };
}
