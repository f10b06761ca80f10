// Runs the maintenance Jobs (check, forget) of Repositories. Keyed by Job: a suspended Job waits
// for its Repository's one-Job slot (sessions/runtime.ts, the same line backups and restores wait
// in), then gets its credentials Secret (a read+list SAS for checks, which run --no-lock; racwdl for
// forgets, which lock and may prune) and is unsuspended. A finished Job's result goes to the
// Repository (checks) or back to the snapshot sync (forgets); the Job goes with its TTL.

import type { V1Job } from "@kubernetes/client-node";
import type { ReconcileResult } from "../../kube/controller.ts";
import { JOBS, REPOSITORIES } from "../../kube/resources.ts";
import { patchStatusIfChanged } from "../../kube/status.ts";
import { LABEL_COMPONENT } from "../../api/labels.ts";
import { REPOSITORY_API_VERSION, REPOSITORY_KIND, type Repository } from "../../api/repository.ts";
import { BACKUP_PERMISSIONS, RESTORE_PERMISSIONS } from "../../azure/sas.ts";
import { lastIntegrityCheck, repositoryIntegrity } from "../../observability/metrics.ts";
import { jobOutcome, type JobOutcome } from "../sessions/outcome.ts";
import { DEFAULT_JOB_LIFETIME_MS, jobFinished, type SessionRuntime } from "../sessions/runtime.ts";
import { WAIT_POLL_MS } from "../sessions/reconciler.ts";
import { ANNOTATION_CHECK_TRIGGER, repositoryOwner, type MaintenanceKind } from "./job.ts";
import { integrityStatus, lastCheckFrom } from "./integrity.ts";

export type Finished = Extract<JobOutcome, { state: "finished" }>;

export interface MaintenanceHooks {
  /** A forget finished (either way): the snapshot sync of the Repository takes it from here. */
  forgetFinished: (repository: { namespace: string; name: string }, job: V1Job, outcome: Finished) => void;
}

export function maintenanceKindOf(job: V1Job | undefined): MaintenanceKind | undefined {
  const c = job?.metadata?.labels?.[LABEL_COMPONENT];
  return c === "check" || c === "forget" ? c : undefined;
}

export class MaintenanceReconciler {
  private readonly rt: SessionRuntime;
  private readonly hooks: MaintenanceHooks;

  constructor(rt: SessionRuntime, hooks: MaintenanceHooks) {
    this.rt = rt;
    this.hooks = hooks;
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const job = await this.rt.readJob(namespace, name);
    const kind = maintenanceKindOf(job);
    if (!job || !kind || job.metadata?.deletionTimestamp) return {};
    const owner = job.metadata?.ownerReferences?.find((o) => o.kind === REPOSITORY_KIND && o.controller);
    if (!owner) return {};
    const repoRef = { namespace, name: owner.name };
    // Only a Job of the Repository as it is now (a tenant can write owner references too).
    const repository = await this.rt.getRepository(namespace, owner.name);
    if (!repository || repository.metadata?.uid !== owner.uid) return {};
    const jobKey = `${namespace}/${name}`;
    if (job.spec?.suspend && !jobFinished(job)) return this.start(job, kind, repository, repoRef, jobKey);

    const outcome = jobOutcome(job, await this.rt.podsOf(job));
    if (outcome.state === "running") return {};
    if (kind === "check") await this.recordCheck(job, repoRef, outcome);
    else this.hooks.forgetFinished(repoRef, job, outcome);
    await this.rt.deleteJobCredentials(namespace, name, owner.uid);
    this.rt.releaseSlot(repoRef, jobKey);
    // The Job itself goes with ttlSecondsAfterFinished (the operator deletes no Job by hand); its
    // name is unique, and taking its result again is a no-op.
    return {};
  }

  private async start(job: V1Job, kind: MaintenanceKind, repository: Repository, repoRef: { namespace: string; name: string }, jobKey: string): Promise<ReconcileResult> {
    const name = job.metadata?.name ?? "";
    const created = job.metadata?.creationTimestamp ? new Date(job.metadata.creationTimestamp).getTime() : this.rt.deps.clock().getTime();
    let failed: string | undefined;
    const busy = await this.rt.withRepositorySlot(repository, { key: jobKey, created, name }, async () => {
      const problem = await this.rt.ensureJobCredentials({
        namespace: repoRef.namespace,
        jobName: name,
        // Owned by the Repository, as the Job is (the admission policy admits only Secrets a Stash
        // object controls); deleted once the Job finished.
        owner: repositoryOwner(repository)!,
        labels: job.metadata?.labels ?? {},
        repository,
        permissions: kind === "check" ? RESTORE_PERMISSIONS : BACKUP_PERMISSIONS,
        lifetimeMs: job.spec?.activeDeadlineSeconds ? job.spec.activeDeadlineSeconds * 1000 : DEFAULT_JOB_LIFETIME_MS,
      });
      if (problem) {
        failed = `${problem.reason}: ${problem.message}`;
        this.rt.releaseSlot(repoRef, jobKey);
        return;
      }
      await this.rt.deps.kube.mergePatch(JOBS, repoRef.namespace, name, { spec: { suspend: false } });
    });
    if (busy) return { requeueAfterMs: WAIT_POLL_MS };
    if (failed) {
      this.rt.deps.events.record(this.involved(repository), "Warning", kind === "check" ? "CheckNotStarted" : "ForgetNotStarted", `Job ${name}: ${failed}`);
      return { requeueAfterMs: 30_000 };
    }
    return {};
  }

  private async recordCheck(job: V1Job, repoRef: { namespace: string; name: string }, outcome: Finished): Promise<void> {
    const repository = await this.rt.getRepository(repoRef.namespace, repoRef.name);
    const name = job.metadata?.name ?? "";
    if (!repository || repository.status?.lastCheck?.job === name) return;
    const subsetAt = job.spec?.template?.spec?.containers?.[0]?.args?.indexOf("--read-data-subset") ?? -1;
    const subset = subsetAt >= 0 ? job.spec?.template?.spec?.containers?.[0]?.args?.[subsetAt + 1] : undefined;
    const now = this.rt.deps.clock();
    const check = lastCheckFrom(outcome, name, job.metadata?.annotations?.[ANNOTATION_CHECK_TRIGGER], subset, now);
    const status = integrityStatus(repository.status, check, now);
    await patchStatusIfChanged(this.rt.deps.kube, { ...REPOSITORIES, ...repoRef }, repository.status, status as Record<string, unknown>);
    const labels = { namespace: repoRef.namespace, repository: repoRef.name };
    if (status.integrity !== undefined) repositoryIntegrity.set(labels, status.integrity ? 1 : 0);
    lastIntegrityCheck.set(labels, Date.parse(check.time) / 1000);
    const type = check.result === "Passed" ? "Normal" : "Warning";
    const reason = check.result === "Passed" ? "IntegrityVerified" : check.result === "Damaged" ? "RepositoryDamaged" : "CheckFailed";
    this.rt.deps.events.record(this.involved(repository), type, reason, check.message.slice(0, 1000));
  }

  private involved(repository: Repository) {
    return { apiVersion: REPOSITORY_API_VERSION, kind: REPOSITORY_KIND, metadata: repository.metadata ?? {} } as Parameters<SessionRuntime["deps"]["events"]["record"]>[0];
  }
}
