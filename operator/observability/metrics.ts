import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

// One registry for the process; the chart's ServiceMonitor scrapes it on /metrics.
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: "blobstash_process_" });

export const reconcileTotal = new Counter({
  name: "blobstash_reconcile_total",
  help: "Reconciles by kind and outcome (success, error).",
  labelNames: ["kind", "outcome"] as const,
  registers: [registry],
});

export const azureRequests = new Counter({
  name: "blobstash_azure_requests_total",
  help: "HTTP requests sent to Azure Storage (probes, key files, SAS minting, wipe-outs): what revalidation costs.",
  registers: [registry],
});

export const eventsDropped = new Counter({
  name: "blobstash_events_dropped_total",
  help: "Kubernetes Events not written because too many were already waiting for the API server.",
  registers: [registry],
});

export const reconcileDuration = new Histogram({
  name: "blobstash_reconcile_duration_seconds",
  help: "Time spent in one reconcile, by kind.",
  labelNames: ["kind"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

const readiness = new Map<string, { ready: boolean; reason: string }>();

export const repositoryReady = new Gauge({
  name: "blobstash_repository_ready",
  help: "1 when the Repository is Ready, 0 otherwise.",
  labelNames: ["namespace", "repository"] as const,
  registers: [registry],
});

new Gauge({
  name: "blobstash_repositories",
  help: "Repositories by the reason of their Ready condition (Ready, SecretNotFound, AuthenticationFailed, ...).",
  labelNames: ["reason"] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const { reason } of readiness.values()) this.inc({ reason });
  },
});

export function setRepositoryReadiness(namespace: string, repository: string, ready: boolean, reason: string): void {
  readiness.set(`${namespace}/${repository}`, { ready, reason });
  repositoryReady.set({ namespace, repository }, ready ? 1 : 0);
}

export const repositorySnapshots = new Gauge({
  name: "blobstash_repository_snapshots",
  help: "Snapshots in the restic repository after the last backup.",
  labelNames: ["namespace", "repository"] as const,
  registers: [registry],
});

export const repositorySizeBytes = new Gauge({
  name: "blobstash_repository_size_bytes",
  help: "Stored (raw-data) size of the restic repository after the last backup.",
  labelNames: ["namespace", "repository"] as const,
  registers: [registry],
});

export const lastSuccessfulBackup = new Gauge({
  name: "blobstash_repository_last_successful_backup_timestamp_seconds",
  help: "Unix time of the last successful backup into the Repository.",
  labelNames: ["namespace", "repository"] as const,
  registers: [registry],
});

export const backupUnreadableFiles = new Gauge({
  name: "blobstash_repository_last_backup_unreadable_files",
  help: "Files the last backup into the Repository could not read (restic exit 3): left out of its snapshot.",
  labelNames: ["namespace", "repository"] as const,
  registers: [registry],
});

export const repositoryIntegrity = new Gauge({
  name: "blobstash_repository_integrity",
  help: "Result of the last restic check of the Repository: 1 no errors, 0 damaged (absent until a check ran).",
  labelNames: ["namespace", "repository"] as const,
  registers: [registry],
});

export const lastIntegrityCheck = new Gauge({
  name: "blobstash_repository_last_check_timestamp_seconds",
  help: "Unix time the last restic check of the Repository finished, whatever it found.",
  labelNames: ["namespace", "repository"] as const,
  registers: [registry],
});

export const sessionsTotal = new Counter({
  name: "blobstash_sessions_total",
  help: "Backup and restore sessions that finished, by kind (BackupSession, RestoreSession) and phase (Succeeded, PartiallyFailed, Failed).",
  labelNames: ["kind", "phase"] as const,
  registers: [registry],
});

export const jobDuration = new Histogram({
  name: "blobstash_job_duration_seconds",
  help: "Wall time of backup and restore Jobs, by kind and outcome (success, partial, failure).",
  labelNames: ["kind", "outcome"] as const,
  buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
  registers: [registry],
});

export function observeReconcile(kind: string, outcome: "success" | "error", seconds: number): void {
  reconcileTotal.inc({ kind, outcome });
  reconcileDuration.observe({ kind }, seconds);
}

/** Drops every series labelled with this Repository, so deleted Repositories stop being reported. */
export function forgetRepository(namespace: string, repository: string): void {
  readiness.delete(`${namespace}/${repository}`);
  for (const g of [repositoryReady, repositorySnapshots, repositorySizeBytes, lastSuccessfulBackup, backupUnreadableFiles, repositoryIntegrity, lastIntegrityCheck]) {
    g.remove({ namespace, repository });
  }
}
