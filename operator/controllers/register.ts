// Builds every controller of the operator: the informers it watches, the reconcilers, and which
// change enqueues which key. The manager (operator/manager.ts) owns the lifecycle around it.

import { BatchV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Job, type V1Secret } from "@kubernetes/client-node";
import { Controller } from "../kube/controller.ts";
import { InformerSet } from "../kube/informer.ts";
import { keyOf } from "../kube/client.ts";
import type { EventRecorder } from "../kube/events.ts";
import { logger } from "../observability/logger.ts";
import { observeReconcile } from "../observability/metrics.ts";
import type { OperatorOptions } from "../config/options.ts";
import { REPOSITORY_GROUP, REPOSITORY_PLURAL, REPOSITORY_VERSION, type Repository } from "../api/repository.ts";
import {
  BACKUP_CONFIGURATION_PLURAL,
  BACKUP_SESSION_KIND,
  BACKUP_SESSION_PLURAL,
  RESTORE_SESSION_KIND,
  RESTORE_SESSION_PLURAL,
  STASH_GROUP,
  V1BETA1,
  type BackupConfiguration,
  type BackupSession,
  type RestoreSession,
} from "../api/backup.ts";
import { LABEL_MANAGED_BY, MANAGED_BY } from "../api/labels.ts";
import { AzureClientCache } from "../azure/clients.ts";
import { RepositoryReconciler } from "./repository/reconciler.ts";
import { BackupConfigurationReconciler } from "./backupconfiguration/reconciler.ts";
import { backupSessionReconciler } from "./backupsession/reconciler.ts";
import { restoreSessionReconciler } from "./restoresession/reconciler.ts";
import { SessionRuntime } from "./sessions/runtime.ts";

export interface Controllers {
  informers: Array<InformerSet<KubernetesObject>>;
  controllers: Controller[];
  /** Enqueues every known object; called when this replica becomes the leader. */
  enqueueAll: () => void;
}

export function buildControllers(kc: KubeConfig, opts: OperatorOptions, events: EventRecorder, isLeader: () => boolean, clock: () => Date = () => new Date()): Controllers {
  const log = logger.child({ component: "operator" });
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const ns = opts.watchNamespaces;
  const base = { kc, log };

  const crInformer = <T extends KubernetesObject>(group: string, version: string, plural: string) =>
    new InformerSet<T>(
      base,
      ns,
      (n) => `/apis/${group}/${version}${n ? `/namespaces/${n}` : ""}/${plural}`,
      (n) => () =>
        (n
          ? custom.listNamespacedCustomObject({ group, version, plural, namespace: n })
          : custom.listClusterCustomObject({ group, version, plural })) as Promise<KubernetesListObject<T>>,
    );
  const repositories = crInformer<Repository>(REPOSITORY_GROUP, REPOSITORY_VERSION, REPOSITORY_PLURAL);
  const configs = crInformer<BackupConfiguration>(STASH_GROUP, V1BETA1, BACKUP_CONFIGURATION_PLURAL);
  const backupSessions = crInformer<BackupSession>(STASH_GROUP, V1BETA1, BACKUP_SESSION_PLURAL);
  const restoreSessions = crInformer<RestoreSession>(STASH_GROUP, V1BETA1, RESTORE_SESSION_PLURAL);
  const secrets = new InformerSet<V1Secret>(
    base,
    ns,
    (n) => (n ? `/api/v1/namespaces/${n}/secrets` : "/api/v1/secrets"),
    (n) => () => (n ? core.listNamespacedSecret({ namespace: n }) : core.listSecretForAllNamespaces()) as Promise<KubernetesListObject<V1Secret>>,
  );
  const managedBy = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
  const jobs = new InformerSet<V1Job>(
    { ...base, labelSelector: managedBy },
    ns,
    (n) => (n ? `/apis/batch/v1/namespaces/${n}/jobs` : "/apis/batch/v1/jobs"),
    (n) => () =>
      (n ? batch.listNamespacedJob({ namespace: n, labelSelector: managedBy }) : batch.listJobForAllNamespaces({ labelSelector: managedBy })) as Promise<KubernetesListObject<V1Job>>,
  );

  const controller = (kind: string, reconcile: (namespace: string, name: string) => Promise<{ requeueAfterMs?: number }>) =>
    new Controller({ kind, workers: opts.concurrency, reconcile: (k) => reconcile(k.namespace, k.name), log, observe: observeReconcile });

  const repositoryReconciler = new RepositoryReconciler({
    kc,
    clock,
    revalidateAfterMs: opts.revalidatePeriodMs,
    sasWarnBeforeMs: opts.sasWarnBeforeMs,
    defaultEndpointSuffix: opts.defaultEndpointSuffix,
    log: logger.child({ controller: "Repository" }),
    events,
    getRepository: (namespace, name) => repositories.get(name, namespace),
    getSecret: (namespace, name) => secrets.get(name, namespace),
  });
  const sessionRuntime = new SessionRuntime({
    kc,
    clock,
    log: logger.child({ controller: "sessions" }),
    events,
    azure: new AzureClientCache(),
    defaultEndpointSuffix: opts.defaultEndpointSuffix,
    jobImage: opts.jobImage,
    jobOptions: { command: [opts.jobCommand] },
    credentialSlackMs: opts.jobCredentialSlackMs,
    jobs,
  });
  const configReconciler = new BackupConfigurationReconciler({ kc, clock, log: logger.child({ controller: "BackupConfiguration" }), events, sessions: backupSessions });
  const backups = backupSessionReconciler(sessionRuntime);
  const restores = restoreSessionReconciler(sessionRuntime);

  const repositoryController = controller("Repository", (n, m) => repositoryReconciler.reconcile(n, m));
  const configController = controller("BackupConfiguration", (n, m) => configReconciler.reconcile(n, m));
  const backupController = controller(BACKUP_SESSION_KIND, (n, m) => backups.reconcile(n, m));
  const restoreController = controller(RESTORE_SESSION_KIND, (n, m) => restores.reconcile(n, m));

  const on = <T extends KubernetesObject>(informer: InformerSet<T>, handler: (obj: T) => void, events: Array<"add" | "update" | "delete"> = ["add", "update", "delete"]) => {
    for (const ev of events) informer.on(ev, (obj) => isLeader() && handler(obj));
  };
  on(repositories, (r) => repositoryController.enqueue(keyOf(r)), ["add", "update"]);
  repositories.on("delete", (r) => repositoryReconciler.forgetRepository(r.metadata?.namespace ?? "", r.metadata?.name ?? ""));
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
  on(jobs, (j) => {
    const owner = j.metadata?.ownerReferences?.find((o) => o.controller);
    const key = `${j.metadata?.namespace}/${owner?.name}`;
    if (owner?.kind === BACKUP_SESSION_KIND) backupController.enqueue(key);
    if (owner?.kind === RESTORE_SESSION_KIND) restoreController.enqueue(key);
  });

  const informers = [repositories, secrets, configs, backupSessions, restoreSessions, jobs] as unknown as Array<InformerSet<KubernetesObject>>;
  return {
    informers,
    controllers: [repositoryController, configController, backupController, restoreController],
    enqueueAll() {
      for (const r of repositories.list()) repositoryController.enqueue(keyOf(r));
      for (const c of configs.list()) configController.enqueue(keyOf(c));
      for (const s of backupSessions.list()) backupController.enqueue(keyOf(s));
      for (const s of restoreSessions.list()) restoreController.enqueue(keyOf(s));
    },
  };
}
