// Per Repository: keeps the Snapshot objects equal to what the restic repository holds, turns an
// explicit `kubectl delete snapshot` into a forget Job, and queues integrity checks when they are
// due (schedule or the check-now annotation). Runs after every backup (the Repository's status
// changes), after every forget, and every sync period (someone may have run `restic forget` by hand).
//
// No finalizer on Snapshots: with the operator down, deleting a namespace must not wait for it.
// So a deletion is seen as the informer's delete event. It is explicit (and forgets data) only when
// the Repository still exists and is not being deleted, its namespace is not terminating, and the
// snapshot was in the repository at the last look; otherwise (namespace or Repository deletion, the
// sync's own removals) nothing is forgotten. A deletion the operator did not see (it was down)
// is not carried out: the next sync puts the object back.

import type { V1Job, V1Namespace } from "@kubernetes/client-node";
import type { KubeClient } from "../../kube/api-client.ts";
import { isConflict, isNotFound, statusCode } from "../../kube/client.ts";
import type { ReconcileResult } from "../../kube/controller.ts";
import type { EventRecorder } from "../../kube/events.ts";
import type { InformerSet } from "../../kube/informer.ts";
import { JOBS, NAMESPACES, REPOSITORIES, type ResourceType } from "../../kube/resources.ts";
import { patchStatusIfChanged } from "../../kube/status.ts";
import type { Logger } from "../../observability/logger.ts";
import { registerSecret } from "../../observability/logger.ts";
import { repositorySnapshots } from "../../observability/metrics.ts";
import { findCondition, setCondition, type Condition } from "../../api/conditions.ts";
import { LABEL_COMPONENT, LABEL_REPOSITORY, LABEL_REPOSITORY_NAMESPACE, labelValue, shortHash } from "../../api/labels.ts";
import { REPOSITORY_API_VERSION, REPOSITORY_KIND, type Repository } from "../../api/repository.ts";
import { SNAPSHOT_GROUP, SNAPSHOT_PLURAL, SNAPSHOT_REPOSITORY_LABEL, SNAPSHOT_VERSION, snapshotObjectName, type Snapshot } from "../../api/snapshot.ts";
import type { BackupConfiguration } from "../../api/backup.ts";
import type { AzureClientCache } from "../../azure/clients.ts";
import { readStorageSecret } from "../../azure/credentials.ts";
import { type AzureAdminPolicy, operatorIdentityRefusal } from "../../azure/admin-policy.ts";
import type { JobOptions } from "../jobs/pod.ts";
import { jobFinished } from "../sessions/runtime.ts";
import { ANNOTATION_CHECK_TRIGGER, LABEL_SNAPSHOT_ID, buildMaintenanceJob, repositoryOwner, type MaintenanceKind } from "../maintenance/job.ts";
import type { Finished } from "../maintenance/reconciler.ts";
import { checkDue, integrityCondition, integrityConditionCurrent } from "../maintenance/integrity.ts";
import { shareBudget } from "./budget.ts";
import { forgetAskedBy, planSnapshots } from "./plan.ts";
import type { SnapshotListing, SnapshotSource } from "./source.ts";

export const SNAPSHOTS: ResourceType = { group: SNAPSHOT_GROUP, version: SNAPSHOT_VERSION, plural: SNAPSHOT_PLURAL };

/** Snapshot objects created at once per Repository. */
const CREATES_IN_FLIGHT = 8;

/**
 * Snapshot files downloaded per look at one Repository: a first sync of thousands is many short
 * reconciles, taken in turn with other namespaces' (the controller's queue is fair by namespace).
 */
const READS_PER_LOOK = 500;

/** Default of --snapshot-sync-period. */
export const DEFAULT_SNAPSHOT_SYNC_MS = 60_000;

export interface SnapshotSyncDeps {
  kube: KubeClient;
  clock: () => Date;
  log: Logger;
  events: EventRecorder;
  azure: AzureClientCache;
  source: SnapshotSource;
  azurePolicy: AzureAdminPolicy;
  syncPeriodMs: number;
  /** Snapshot objects (and snapshots read and kept) per namespace, shared among its Repositories. */
  perNamespace: number;
  image: string;
  jobOptions: JobOptions;
  getRepository: (namespace: string, name: string) => Repository | undefined;
  getSecret: (namespace: string, name: string) => Promise<{ data?: Record<string, string> } | undefined>;
  snapshots: InformerSet<Snapshot>;
  jobs: InformerSet<V1Job>;
  configs: InformerSet<BackupConfiguration>;
}

type RepoKey = string;

export class SnapshotSyncReconciler {
  private readonly d: SnapshotSyncDeps;
  /** Ids the last look found, per Repository: a deleted object for one of them is a request to forget it. */
  private readonly listed = new Map<RepoKey, Set<string>>();
  /** Deletions seen, not yet turned into forget Jobs. */
  private readonly requested = new Map<RepoKey, Map<string, string>>();
  /** `namespace/name` of objects the sync itself deletes: their delete events forget nothing. */
  private readonly removing = new Set<string>();
  /** Forgets that failed, waiting for the sync to put the reason on the (re-created) object. */
  private readonly failed = new Map<RepoKey, Map<string, { reason: string; message: string; job: string }>>();
  /** Snapshot files each Repository held at its last look: what it asks of its namespace's budget. */
  private readonly files = new Map<RepoKey, number>();
  /** Snapshots left without objects at the last look, per Repository (an event when it changes). */
  private readonly capped = new Map<RepoKey, number>();

  constructor(deps: SnapshotSyncDeps) {
    this.d = deps;
  }

  /** The informer's delete event of a Snapshot. Returns the Repository key to reconcile, if any. */
  snapshotDeleted(s: Snapshot): RepoKey | undefined {
    const asked = forgetAskedBy(s, (key) => this.listed.get(key), this.removing);
    if (!asked) return undefined;
    let m = this.requested.get(asked.repository);
    if (!m) this.requested.set(asked.repository, (m = new Map()));
    m.set(asked.id, `${s.metadata?.name ?? ""}\n${s.metadata?.uid ?? ""}`);
    return asked.repository;
  }

  /** A forget Job finished (hook of the maintenance reconciler). */
  forgetFinished(repo: { namespace: string; name: string }, job: V1Job, outcome: Finished): void {
    if (outcome.succeeded) return;
    const id = job.spec?.template?.spec?.containers?.[0]?.args?.[job.spec.template.spec.containers[0]!.args!.indexOf("--snapshot") + 1];
    if (!id) return;
    const key = `${repo.namespace}/${repo.name}`;
    let m = this.failed.get(key);
    if (!m) this.failed.set(key, (m = new Map()));
    m.set(id, { reason: outcome.reason === "Succeeded" ? "ForgetFailed" : outcome.reason, message: `restic forget failed (delete the Snapshot again to retry): ${outcome.message}`, job: job.metadata?.name ?? "" });
  }

  forgetRepository(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    this.listed.delete(key);
    this.requested.delete(key);
    this.failed.delete(key);
    this.files.delete(key);
    this.capped.delete(key);
    this.d.source.forget(key);
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const key = `${namespace}/${name}`;
    const repo = this.d.getRepository(namespace, name);
    if (!repo || !repo.spec?.backend?.azure) {
      this.forgetRepository(namespace, name);
      return {};
    }
    if (repo.metadata?.deletionTimestamp) return {};
    await this.forgetRequested(key, repo);
    const checkNextMs = await this.queueCheck(repo);
    await this.reassertIntegrity(repo);
    const syncMs = await this.sync(key, repo);
    return { requeueAfterMs: Math.min(syncMs, checkNextMs ?? Infinity) };
  }

  /** Turns the deletions seen into forget Jobs, if the deletion was the user's own. */
  private async forgetRequested(key: RepoKey, repo: Repository): Promise<void> {
    const requests = this.requested.get(key);
    if (!requests?.size) return;
    const namespace = repo.metadata?.namespace ?? "";
    if (!(await this.deliberate(repo))) {
      this.d.log.info("Snapshots deleted with their namespace or Repository: nothing is forgotten", { repository: key, snapshots: requests.size });
      this.requested.delete(key);
      return;
    }
    const prune = this.prunes(repo);
    for (const [id, request] of [...requests]) {
      const [objectName, objectUid] = request.split("\n") as [string, string];
      // One Job per deletion (a deleted object's uid is never reused): a retry after a failure gets a new Job.
      const nameSeed = `${id.slice(0, 8)}-${shortHash(objectUid || objectName)}`;
      const built = buildMaintenanceJob({ repository: repo, kind: "forget", snapshotId: id, prune, nameSeed, image: this.d.image, options: this.d.jobOptions });
      requests.delete(id);
      if (!built.ok) continue;
      try {
        await this.d.kube.create(JOBS, namespace, built.job);
        this.event(repo, "Normal", "ForgetQueued", `Snapshot ${objectName} was deleted: restic forget ${id.slice(0, 8)}${prune ? " --prune" : ""} queued as Job ${built.job.metadata?.name}`);
      } catch (err) {
        if (isConflict(err)) continue;
        // A namespace being deleted refuses new objects: that deletion was the namespace's, not the user's.
        if (statusCode(err) === 403) continue;
        throw err;
      }
    }
  }

  /** The Repository is there and staying, in a namespace that is not terminating (read fresh, not from a cache). */
  private async deliberate(repo: Repository): Promise<boolean> {
    const namespace = repo.metadata?.namespace ?? "";
    const fresh = await this.d.kube.find<Repository>(REPOSITORIES, namespace, repo.metadata?.name ?? "");
    if (!fresh || fresh.metadata?.deletionTimestamp || fresh.metadata?.uid !== repo.metadata?.uid) return false;
    try {
      const ns = await this.d.kube.get<V1Namespace>(NAMESPACES, undefined, namespace);
      if (ns.metadata?.deletionTimestamp || ns.status?.phase === "Terminating") return false;
    } catch (err) {
      if (isNotFound(err)) return false;
      // Namespace-scoped installs may not read namespaces; creating the Job in a terminating one fails instead.
      if (statusCode(err) !== 403) throw err;
    }
    return true;
  }

  /** Forgets prune when a BackupConfiguration of this Repository prunes in its retention policy. */
  private prunes(repo: Repository): boolean {
    const name = repo.metadata?.name;
    const namespace = repo.metadata?.namespace;
    return this.d.configs.list().some((c) => {
      const ref = c.spec?.repository;
      return ref?.name === name && (ref?.namespace || c.metadata?.namespace) === namespace && c.spec?.retentionPolicy?.prune === true;
    });
  }

  private repositoryJobs(repo: Repository, kind: MaintenanceKind): V1Job[] {
    const name = labelValue(repo.metadata?.name ?? "");
    const namespace = repo.metadata?.namespace ?? "";
    return this.d.jobs.list(namespace).filter((j) => {
      const l = j.metadata?.labels ?? {};
      return l[LABEL_COMPONENT] === kind && l[LABEL_REPOSITORY] === name && l[LABEL_REPOSITORY_NAMESPACE] === namespace;
    });
  }

  /** Creates a (suspended) check Job when one is due; returns when to look again for the schedule. */
  private async queueCheck(repo: Repository): Promise<number | undefined> {
    const pending = new Set(
      this.repositoryJobs(repo, "check")
        .filter((j) => !j.metadata?.deletionTimestamp)
        .map((j) => j.metadata?.annotations?.[ANNOTATION_CHECK_TRIGGER] ?? ""),
    );
    const now = this.d.clock();
    const due = checkDue(repo, pending, now);
    if (!due.due) {
      if (due.problem) this.event(repo, "Warning", "CheckScheduleInvalid", `spec.integrityCheck.schedule: ${due.problem}`);
      return due.nextMs;
    }
    const spec = repo.spec?.integrityCheck;
    const built = buildMaintenanceJob({
      repository: repo,
      kind: "check",
      trigger: due.trigger,
      nameSeed: due.seed,
      image: this.d.image,
      options: this.d.jobOptions,
      ...(due.readDataSubset ? { readDataSubset: due.readDataSubset } : {}),
      ...(spec?.timeOut ? { timeOut: spec.timeOut } : {}),
    });
    if (!built.ok) {
      this.event(repo, "Warning", "CheckInvalid", built.message);
      return undefined;
    }
    try {
      await this.d.kube.create(JOBS, repo.metadata?.namespace ?? "", built.job);
      this.event(repo, "Normal", "CheckQueued", `restic check${due.readDataSubset ? ` --read-data-subset ${due.readDataSubset}` : ""} queued as Job ${built.job.metadata?.name}`);
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    return 1000;
  }

  /** Puts the IntegrityVerified condition back if another status writer dropped it. */
  private async reassertIntegrity(repo: Repository): Promise<void> {
    const status = repo.status;
    if (!status?.lastCheck || integrityConditionCurrent(status)) return;
    const conditions = setCondition(status.conditions as Condition[] | undefined, integrityCondition(status.lastCheck), this.d.clock());
    await patchStatusIfChanged(this.d.kube, { ...REPOSITORIES, namespace: repo.metadata?.namespace ?? "", name: repo.metadata?.name ?? "" }, status, { conditions });
  }

  /** One look at the repository and the writes it implies; returns when to look again. */
  private async sync(key: RepoKey, repo: Repository): Promise<number> {
    const period = this.d.syncPeriodMs;
    const namespace = repo.metadata?.namespace ?? "";
    const name = repo.metadata?.name ?? "";
    // Until the Repository is Ready (secret, backend, password), there is nothing to read with.
    if (findCondition(repo.status?.conditions, "Ready")?.status !== "True") return period;
    let limit = Infinity;
    let sharers = 0;
    let listing: SnapshotListing;
    // Never backed up into, and no restic repository at the last probe (NotInitialized): no
    // snapshot to read, no listing to send. A first backup sets lastBackupTime in the same write
    // as its count, before the next probe says Initialized: from then on the files are read.
    if (!repo.status?.lastBackupTime && findCondition(repo.status?.conditions, "RepositoryInitialized")?.status === "False") {
      this.files.delete(key);
      this.d.source.forget(key);
      listing = { ok: true, snapshots: [], skipped: [], files: 0, pending: 0 };
    } else {
      const secretName = repo.spec?.backend?.storageSecretName ?? "";
      const secret = await this.d.getSecret(namespace, secretName);
      const parsed = readStorageSecret(secret?.data, { secretName, policy: this.d.azurePolicy, register: registerSecret });
      if (!parsed.ok) return period;
      const azure = repo.spec!.backend!.azure!;
      // The operator's own identity only where the admin lent it (as for probes and Job credentials).
      if (operatorIdentityRefusal(this.d.azurePolicy, parsed.credentials, namespace, azure.container)) return period;
      const target = { container: azure.container, ...(azure.prefix !== undefined ? { prefix: azure.prefix } : {}) };
      listing = await this.d.source.list(key, this.d.azure.get(parsed.credentials), target, parsed.resticPassword, {
        maxReads: READS_PER_LOOK,
        files: (total) => {
          this.files.set(key, total);
          const need = new Map([...this.files].filter(([k]) => k.startsWith(`${namespace}/`)));
          sharers = need.size;
          return (limit = shareBudget(this.d.perNamespace, need).get(key) ?? 0);
        },
      });
    }
    if (!listing.ok) {
      this.d.log.warn("cannot list the repository's snapshots", { repository: key, reason: listing.reason, message: listing.message });
      return listing.transient ? Math.min(period, 10_000) : period;
    }
    if (listing.skipped.length > 0) this.d.log.warn("snapshot files skipped", { repository: key, skipped: listing.skipped.slice(0, 5) });
    this.listed.set(key, new Set(listing.snapshots.map((s) => s.id)));

    const forgetJobs = this.repositoryJobs(repo, "forget");
    const forgetting = new Set<string>([...(this.requested.get(key)?.keys() ?? [])]);
    for (const j of forgetJobs) {
      const id = j.metadata?.labels?.[LABEL_SNAPSHOT_ID];
      if (id && !jobFinished(j) && !this.failed.get(key)?.has(id)) forgetting.add(id);
    }
    const failed = this.failed.get(key) ?? new Map();
    const owner = repositoryOwner(repo);
    if (!owner) return period;
    const existing = this.d.snapshots.list(namespace).filter((s) => s.metadata?.labels?.[SNAPSHOT_REPOSITORY_LABEL] === name);
    const plan = planSnapshots({ namespace, repository: name, owner, snapshots: listing.snapshots, existing, forgetting, forgetFailed: failed, now: this.d.clock() });
    // Files not read yet (the per-look budget) have objects that must stay until they are.
    if (listing.pending > 0) plan.remove.length = 0;
    // A few creates in flight: a Repository's first sync makes one object per snapshot.
    for (let i = 0; i < plan.create.length; i += CREATES_IN_FLIGHT) {
      await Promise.all(
        plan.create.slice(i, i + CREATES_IN_FLIGHT).map(async (s) => {
          try {
            await this.d.kube.create(SNAPSHOTS, namespace, s);
          } catch (err) {
            if (!isConflict(err)) throw err;
            plan.update.push(s);
          }
        }),
      );
    }
    // No conditions in the patch unless a forget failed: a merge patch then leaves them as they are.
    for (const s of plan.update) await this.d.kube.mergePatch(SNAPSHOTS, namespace, s.metadata?.name ?? "", { metadata: { labels: s.metadata?.labels, annotations: s.metadata?.annotations, ownerReferences: s.metadata?.ownerReferences }, status: s.status });
    for (const n of plan.remove) {
      this.removing.add(`${namespace}/${n}`);
      try {
        await this.d.kube.delete(SNAPSHOTS, namespace, n);
      } catch (err) {
        this.removing.delete(`${namespace}/${n}`);
        if (!isNotFound(err)) throw err;
      }
    }
    if (plan.collisions.length > 0) this.d.log.warn("snapshots share the first 8 hex digits of their id; only the oldest has a Snapshot object", { repository: key, ids: plan.collisions });
    // The failed forgets' reasons are on the objects now.
    for (const [id, f] of [...failed]) {
      failed.delete(id);
      const object = snapshotObjectName(name, id);
      if (this.listed.get(key)?.has(id)) this.event(repo, "Warning", f.reason, `Snapshot ${object}: ${f.message}`.slice(0, 1000));
    }
    this.reportCap(repo, key, Math.max(0, listing.files - limit), limit, sharers);
    if (listing.pending > 0) return 0;
    // What restic would count: every snapshot file, whether or not it has an object, but for the unreadable.
    const count = listing.files - listing.skipped.length;
    repositorySnapshots.set({ namespace, repository: name }, count);
    if (repo.status?.snapshotCount !== count) await patchStatusIfChanged(this.d.kube, { ...REPOSITORIES, namespace, name }, repo.status, { snapshotCount: count });
    return period;
  }

  /** A Warning event when the namespace's budget starts (or stops, or changes how much it) leaves snapshots without objects. */
  private reportCap(repo: Repository, key: RepoKey, capped: number, limit: number, sharers: number): void {
    const before = this.capped.get(key) ?? 0;
    this.capped.set(key, capped);
    if (capped === before) return;
    const namespace = repo.metadata?.namespace ?? "";
    if (capped === 0) {
      this.d.log.info("every snapshot has a Snapshot object again", { repository: key });
      return;
    }
    const message =
      `${capped} of the oldest snapshots have no Snapshot object: namespace ${namespace} may have at most ${this.d.perNamespace} ` +
      `(--snapshot-max-per-namespace), shared among its ${sharers} Repositories, so this one lists its newest ${limit}. ` +
      "restic still has them all; forget old snapshots with a retention policy, or ask the admin for a larger budget";
    this.d.log.warn("snapshots capped", { repository: key, capped, limit });
    this.event(repo, "Warning", "SnapshotsCapped", message);
  }

  private event(repo: Repository, type: "Normal" | "Warning", reason: string, message: string): void {
    this.d.events.record({ apiVersion: REPOSITORY_API_VERSION, kind: REPOSITORY_KIND, metadata: repo.metadata ?? {} } as Parameters<EventRecorder["record"]>[0], type, reason, message);
  }
}

