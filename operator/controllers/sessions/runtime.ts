// The I/O a session controller needs, shared by backups and restores: reading the Repository and
// target, minting the per-Job credentials Secret, creating and observing the Job, and keeping at
// most one Job per Repository running.

import type { CoreV1Event, V1Job, V1Namespace, V1Node, V1OwnerReference, V1PersistentVolumeClaim, V1Pod, V1Secret } from "@kubernetes/client-node";
import type { KubeClient, KubeList } from "../../kube/api-client.ts";
import { isConflict, isNotFound, statusCode } from "../../kube/client.ts";
import { EVENTS, JOBS, NAMESPACES, NODES, PODS, PVCS, REPOSITORIES, SECRETS } from "../../kube/resources.ts";
import type { InformerSet } from "../../kube/informer.ts";
import type { EventRecorder } from "../../kube/events.ts";
import type { Logger } from "../../observability/logger.ts";
import { registerSecret } from "../../observability/logger.ts";
import type { Repository } from "../../api/repository.ts";
import { ANNOTATION_SAS_EXPIRY, LABEL_MANAGED_BY, LABEL_REPOSITORY, LABEL_REPOSITORY_NAMESPACE, MANAGED_BY, labelValue } from "../../api/labels.ts";
import { type AzureAdminPolicy, operatorIdentityRefusal } from "../../azure/admin-policy.ts";
import { readStorageSecret } from "../../azure/credentials.ts";
import { nameTaken, ownedBy, podsMadeFor } from "./ownership.ts";
import { usageRefusal } from "./usage-policy.ts";
import type { AzureClientCache } from "../../azure/clients.ts";
import { sasForJob } from "../../azure/mint.ts";
import { classifyAzureError } from "../../azure/errors.ts";
import { readFile } from "node:fs/promises";
import { CA_KEY, jobSecretName, PROXY_KEYS, type JobOptions } from "../jobs/pod.ts";
import { RepositoryQueue, type Waiter } from "./queue.ts";

export interface SessionRuntimeDeps {
  kube: KubeClient;
  clock: () => Date;
  log: Logger;
  events: EventRecorder;
  azure: AzureClientCache;
  azurePolicy: AzureAdminPolicy;
  jobImage: string;
  jobOptions: JobOptions;
  /** A minted SAS outlives the Job's deadline by this much. */
  credentialSlackMs: number;
  /** What the operator passes on to every Job through its credentials Secret: its proxy settings and extra CA bundle. */
  jobTrust: JobTrust;
  /** Jobs the operator made (label managed-by=blobstash), for the one-Job-per-Repository rule. */
  jobs: InformerSet<V1Job>;
  /** A session waiting for its Repository's first verdict gives up after this long (default 5 min). */
  repositoryWaitLimitMs?: number;
  /** A Job whose pod has not started this long after its creation is deleted, its session Failed (default 10 min). */
  podStartLimitMs?: number;
  /** The node of a running Job's pod may be not Ready this long before the session fails with NodeLost (default 1 min). */
  nodeLostLimitMs?: number;
}

export interface JobTrust {
  /** HTTPS_PROXY, HTTP_PROXY, NO_PROXY as the operator has them (the same path to Azure as its own probes). */
  proxy: Partial<Record<(typeof PROXY_KEYS)[number], string>>;
  /** Read at each Job's creation, so a rotated bundle reaches the next Job. */
  extraCaFile?: string;
}

/** The proxy settings of an environment, upper-case names winning as Go and the Azure SDK read them. */
export function proxySettings(env: NodeJS.ProcessEnv): JobTrust["proxy"] {
  const out: JobTrust["proxy"] = {};
  for (const key of PROXY_KEYS) {
    const value = env[key] ?? env[key.toLowerCase()];
    if (value) out[key] = value;
  }
  return out;
}

/** Lifetime of a Job's SAS when the session sets no timeOut. */
export const DEFAULT_JOB_LIFETIME_MS = 24 * 3600_000;

export type Problem = { reason: string; message: string };

/**
 * A request the API server refused for what it asked (400 Bad Request, 403 Forbidden by a quota or
 * admission policy, 422 Invalid), as the session's Problem; undefined for other errors (retried).
 */
export function refusedByApiServer(err: unknown, what: string): Problem | undefined {
  const code = statusCode(err);
  if (code !== 400 && code !== 403 && code !== 422) return undefined;
  const message = err instanceof Error ? err.message : String(err);
  return { reason: `${what}Rejected`, message: `the API server refused the ${what} (HTTP ${code}): ${message.slice(0, 1000)}` };
}

/** What keeps a session from starting: a running Job of the Repository, or an earlier session waiting for it. */
export type InTheWay = { job: string } | { queuedBehind: string };

/** A waiting session that stopped polling this long ago (deleted, or failed elsewhere) no longer holds its place. */
export const QUEUE_STALE_AFTER_MS = 10_000;

/**
 * How long a claim stands on its own word: after this, a claimed Job the informer has not shown
 * is looked up, and a Job that does not exist (deleted with its session before the cache saw it)
 * holds nothing. The informer's lag behind a create is milliseconds.
 */
export const CLAIM_UNSEEN_GRACE_MS = 3_000;

export function jobFinished(job: V1Job): boolean {
  return !!job.status?.conditions?.some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
}

export class SessionRuntime {
  readonly deps: SessionRuntimeDeps;
  private readonly kube: KubeClient;
  /** Repository key -> Job key claimed in this process (and when), covering the informer's lag after a create. */
  private readonly claims = new Map<string, { job: string; at: number }>();
  private readonly locks = new Map<string, Promise<void>>();
  /** Sessions waiting for a Repository, so they start in the order they were created. */
  private readonly line = new RepositoryQueue(QUEUE_STALE_AFTER_MS);

  constructor(deps: SessionRuntimeDeps) {
    this.deps = deps;
    this.kube = deps.kube;
  }

  getRepository(namespace: string, name: string): Promise<Repository | undefined> {
    return this.kube.find<Repository>(REPOSITORIES, namespace, name);
  }

  async pvcExists(namespace: string, name: string): Promise<boolean> {
    return (await this.kube.find(PVCS, namespace, name)) !== undefined;
  }

  /**
   * A Node (undefined: deleted), or "forbidden" where the admin's RBAC does not let the operator read
   * Nodes: then a lost node is only seen when Kubernetes evicts the pod, as before.
   */
  async getNode(name: string): Promise<V1Node | undefined | "forbidden"> {
    try {
      return await this.kube.find<V1Node>(NODES, undefined, name);
    } catch (err) {
      if (statusCode(err) === 403) return "forbidden";
      throw err;
    }
  }

  getPvc(namespace: string, name: string): Promise<V1PersistentVolumeClaim | undefined> {
    return this.kube.find<V1PersistentVolumeClaim>(PVCS, namespace, name);
  }

  /** Every pod of the namespace: the ones that mount a volume can only be found by reading their specs. */
  async podsIn(namespace: string): Promise<V1Pod[]> {
    return (await this.kube.list<V1Pod>(PODS, { namespace })).items;
  }

  async namespaceLabels(namespace: string): Promise<Record<string, string> | undefined> {
    try {
      return (await this.kube.get<V1Namespace>(NAMESPACES, undefined, namespace)).metadata?.labels ?? {};
    } catch (err) {
      if (isNotFound(err) || statusCode(err) === 403) return undefined;
      throw err;
    }
  }

  async readJob(namespace: string, name: string): Promise<V1Job | undefined> {
    const cached = this.deps.jobs.get(name, namespace);
    if (cached) return cached;
    return this.kube.find<V1Job>(JOBS, namespace, name);
  }

  /** The Job's own pods (ownership.ts): a pod that only carries its label is not one. */
  async podsOf(job: V1Job): Promise<V1Pod[]> {
    const namespace = job.metadata?.namespace ?? "";
    const list: KubeList<V1Pod> = await this.kube.list(PODS, { namespace, labelSelector: `batch.kubernetes.io/job-name=${job.metadata?.name}` });
    return podsMadeFor(job, list.items);
  }

  /** Events about the Job and its pods: why a pod was not created or is stuck creating its container. */
  async eventsAbout(namespace: string, names: readonly string[]): Promise<CoreV1Event[]> {
    const lists = await Promise.all(names.map((n) => this.kube.list<CoreV1Event>(EVENTS, { namespace, fieldSelector: `involvedObject.name=${n}` })));
    return lists.flatMap((l) => l.items);
  }

  /** Deletes a Job and (in the background) its pods; a Job already gone is fine. */
  /** Deletes the session's Job (`ownerUid`); a foreign Job of that name stays. */
  async deleteJob(namespace: string, name: string, ownerUid: string | undefined): Promise<void> {
    try {
      const job = await this.kube.find<V1Job>(JOBS, namespace, name);
      if (!job || !ownedBy(job, ownerUid)) return;
      await this.kube.delete(JOBS, namespace, name, { propagationPolicy: "Background" });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Runs `start` only when no other Job of this Repository is running and no session that came
   * earlier waits for it; holds a per-Repository lock across the check and the create so two
   * sessions never both start. Returns what is in the way: a running Job, or an earlier session's
   * Job-to-be.
   */
  async withRepositorySlot(repository: Repository, waiter: Waiter, start: () => Promise<void>): Promise<InTheWay | undefined> {
    const jobKey = waiter.key;
    const repoKey = `${repository.metadata?.namespace}/${repository.metadata?.name}`;
    const previous = this.locks.get(repoKey) ?? Promise.resolve();
    let release = (): void => undefined;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => mine);
    this.locks.set(repoKey, chained);
    await previous;
    try {
      const now = this.deps.clock().getTime();
      const running = await this.busyWith(repository, repoKey, jobKey, now);
      const earlier = running ? undefined : this.line.ahead(repoKey, waiter, now);
      if (running || earlier) {
        this.line.wait(repoKey, waiter, now);
        return running ? { job: running } : { queuedBehind: earlier! };
      }
      this.line.leave(jobKey);
      this.claims.set(repoKey, { job: jobKey, at: now });
      await start();
      return undefined;
    } finally {
      release();
      if (this.locks.get(repoKey) === chained) this.locks.delete(repoKey);
    }
  }

  /** Takes a session out of the Repository lines it waited in (it failed while it waited). */
  leaveLine(jobKey: string): void {
    this.line.leave(jobKey);
  }

  /** Forgets this process's claim once the Job is finished or gone. */
  releaseSlot(repository: { namespace: string; name: string }, jobKey: string): void {
    const repoKey = `${repository.namespace}/${repository.name}`;
    if (this.claims.get(repoKey)?.job === jobKey) this.claims.delete(repoKey);
  }

  /** A Job went away (its session or BackupConfiguration was deleted while it ran): its slot is free. */
  jobDeleted(job: V1Job): void {
    const key = `${job.metadata?.namespace}/${job.metadata?.name}`;
    for (const [repoKey, claim] of this.claims) if (claim.job === key) this.claims.delete(repoKey);
  }

  /** The Job that holds the Repository's slot, if one does: the slot follows the Job's real existence. */
  private async busyWith(repository: Repository, repoKey: string, jobKey: string, now: number): Promise<string | undefined> {
    const claim = this.claims.get(repoKey);
    if (claim && claim.job !== jobKey) {
      const [ns, name] = claim.job.split("/") as [string, string];
      let job = this.deps.jobs.get(name, ns);
      if (!job && now - claim.at >= CLAIM_UNSEEN_GRACE_MS) job = await this.kube.find<V1Job>(JOBS, ns, name);
      const unseenYet = !job && now - claim.at < CLAIM_UNSEEN_GRACE_MS;
      if (unseenYet || (job && !jobFinished(job) && !job.metadata?.deletionTimestamp)) return claim.job;
      this.claims.delete(repoKey);
    }
    const repoName = labelValue(repository.metadata?.name ?? "");
    const repoNs = labelValue(repository.metadata?.namespace ?? "");
    for (const job of this.deps.jobs.list()) {
      const l = job.metadata?.labels ?? {};
      if (l[LABEL_REPOSITORY] !== repoName || l[LABEL_REPOSITORY_NAMESPACE] !== repoNs) continue;
      const key = `${job.metadata?.namespace}/${job.metadata?.name}`;
      if (key === jobKey || jobFinished(job) || job.metadata?.deletionTimestamp) continue;
      // A suspended Job (a check or forget waiting for its turn, controllers/maintenance) runs nothing yet.
      if (job.spec?.suspend) continue;
      // Labels are anyone's to write: a Job from a namespace the Repository does not admit holds no
      // slot of it, or a tenant could stall another's backups with one forged Job.
      const jobNs = job.metadata?.namespace ?? "";
      if (jobNs !== repository.metadata?.namespace && usageRefusal(repository, jobNs, await this.namespaceLabels(jobNs))) continue;
      return key;
    }
    return undefined;
  }

  /**
   * Creates the Secret a Job's pod reads its credentials from: the restic password and a SAS scoped
   * to the Repository's container with `permissions`, valid until the Job's deadline plus slack.
   * Never the account key or client secret. Returns a Problem when the storage Secret is unusable.
   */
  async ensureJobCredentials(args: {
    namespace: string;
    jobName: string;
    owner: V1OwnerReference;
    labels: Record<string, string>;
    repository: Repository;
    permissions: string;
    lifetimeMs: number;
  }): Promise<Problem | undefined> {
    const { namespace, jobName, repository } = args;
    const name = jobSecretName(jobName);
    // Reused only when it is this session's (made before a restart): a tenant's Secret of that name
    // would otherwise hand the Job credentials the operator never checked.
    const existing = await this.kube.find<V1Secret>(SECRETS, namespace, name);
    if (existing) return ownedBy(existing, args.owner.uid) ? undefined : nameTaken("Secret", namespace, name, existing);
    const repoNs = repository.metadata?.namespace ?? namespace;
    const storageName = repository.spec?.backend?.storageSecretName;
    const container = repository.spec?.backend?.azure?.container;
    if (!storageName || !container) return { reason: "RepositoryInvalid", message: `Repository ${repoNs}/${repository.metadata?.name} has no storageSecretName or azure container` };
    const storage = await this.kube.find<V1Secret>(SECRETS, repoNs, storageName);
    if (!storage) return { reason: "SecretNotFound", message: `Secret ${repoNs}/${storageName} named by the Repository does not exist` };
    // The Repository's Secret shows up in both namespaces' texts: the Job's is where its values travel.
    const parsed = readStorageSecret(storage.data, { secretName: storageName, policy: this.deps.azurePolicy, register: (v) => (registerSecret(v, repoNs), registerSecret(v, namespace)) });
    if (!parsed.ok) return { reason: parsed.reason, message: parsed.message };
    const refused = operatorIdentityRefusal(this.deps.azurePolicy, parsed.credentials, repoNs, container);
    if (refused) return { reason: "OperatorIdentityNotAllowed", message: `Secret ${repoNs}/${storageName}: ${refused}` };
    const now = this.deps.clock();
    let sas;
    try {
      sas = await sasForJob(this.deps.azure.get(parsed.credentials), {
        container,
        permissions: args.permissions,
        expiresOn: new Date(now.getTime() + args.lifetimeMs + this.deps.credentialSlackMs),
        now,
      });
    } catch (err) {
      const f = classifyAzureError(err, { authenticated: true });
      return { reason: f.reason, message: `could not mint a SAS for the Job (${f.detail})` };
    }
    registerSecret(sas.token, namespace);
    const { proxy, extraCaFile } = this.deps.jobTrust;
    let ca: string | undefined;
    try {
      ca = extraCaFile ? await readFile(extraCaFile, "utf8") : undefined;
    } catch (err) {
      return { reason: "ExtraCaUnreadable", message: `the operator's extra CA bundle ${extraCaFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); check the chart's extraCA value` };
    }
    const body: V1Secret = {
      metadata: {
        name,
        namespace,
        labels: { ...args.labels, [LABEL_MANAGED_BY]: MANAGED_BY },
        annotations: { [ANNOTATION_SAS_EXPIRY]: sas.expiresOn.toISOString() },
        ownerReferences: [args.owner],
      },
      type: "Opaque",
      stringData: {
        RESTIC_PASSWORD: parsed.resticPassword,
        AZURE_ACCOUNT_NAME: parsed.credentials.accountName,
        AZURE_ACCOUNT_SAS: sas.token,
        AZURE_ENDPOINT_SUFFIX: parsed.credentials.endpointSuffix,
        ...proxy,
        ...(ca !== undefined ? { [CA_KEY]: ca } : {}),
      },
    };
    try {
      await this.kube.create(SECRETS, namespace, body);
    } catch (err) {
      if (!isConflict(err)) throw err;
      const raced = await this.kube.find<V1Secret>(SECRETS, namespace, name);
      if (raced && !ownedBy(raced, args.owner.uid)) return nameTaken("Secret", namespace, name, raced);
    }
    return undefined;
  }

  /** Deletes the Job's credentials Secret, if it is the session's (`ownerUid`); a foreign one of that name stays. */
  async deleteJobCredentials(namespace: string, jobName: string, ownerUid: string | undefined): Promise<void> {
    try {
      const secret = await this.kube.find<V1Secret>(SECRETS, namespace, jobSecretName(jobName));
      if (!secret || !ownedBy(secret, ownerUid)) return;
      await this.kube.delete(SECRETS, namespace, jobSecretName(jobName));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Creates the Job, or adopts the one a previous run of the operator created under the same name. */
  async createOrAdoptJob(job: V1Job): Promise<V1Job> {
    const namespace = job.metadata?.namespace ?? "";
    try {
      return await this.kube.create<V1Job>(JOBS, namespace, job);
    } catch (err) {
      if (!isConflict(err)) throw err;
      return this.kube.get<V1Job>(JOBS, namespace, job.metadata?.name ?? "");
    }
  }
}
