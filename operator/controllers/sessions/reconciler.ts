// The reconcile both session kinds share: read the session; if its Job exists, observe it; else
// check the Repository and target, take the Repository's slot, mint the Job's credentials, create
// the Job; once the Job finished, report the result on the session (and, for backups, on the
// Repository). What differs per kind is in a SessionKind.

import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { patchStatusIfChanged } from "../../kube/status.ts";
import type { ReconcileResult } from "../../kube/controller.ts";
import { PVC_KIND, STASH_GROUP, V1BETA1, V1BETA1_API_VERSION, isFinishedPhase, type ObjectRef, type RuntimeSettings, type SessionPhase, type TargetRef } from "../../api/backup.ts";
import { findCondition, setCondition, type Condition, type ConditionInput } from "../../api/conditions.ts";
import type { Repository } from "../../api/repository.ts";
import type { JobResult } from "../../api/result.ts";
import { formatDuration, parseDuration } from "../../config/duration.ts";
import { jobDuration, sessionsTotal } from "../../observability/metrics.ts";
import { VOLUME_NAME, jobSecretName } from "../jobs/pod.ts";
import { nonRootNotice, privilegeMode, withNonRootUid } from "../jobs/privilege.ts";
import { pinToNode, placement, podsUsingClaim } from "../jobs/placement.ts";
import type { Refusal } from "../jobs/unsupported.ts";
import { jobOutcome, type JobOutcome } from "./outcome.ts";
import { phaseOf, sessionState } from "./status.ts";
import { notStartedProblem, podStart, POD_STARTED_CONDITION } from "./pod-start.ts";
import { NODE_READY_CONDITION, leftoverJob, nodeHealth, nodeLostProblem, podReady, runningPod } from "./node-loss.ts";
import { checkRepository } from "./preflight.ts";
import { nameTaken, ownedBy } from "./ownership.ts";
import { usageRefusal } from "./usage-policy.ts";
import { DEFAULT_JOB_LIFETIME_MS, jobFinished, refusedByApiServer, type Problem, type SessionRuntime } from "./runtime.ts";

/** How often a session waiting for its Repository or a queue slot looks again. */
export const WAIT_POLL_MS = 2_000;

/** Default for how long a session waits for its Repository's first verdict before it fails. */
export const DEFAULT_REPOSITORY_WAIT_LIMIT_MS = 5 * 60_000;

/** Default for how long a Job's pod may take to start before the Job is deleted and its session fails. */
export const DEFAULT_POD_START_LIMIT_MS = 10 * 60_000;

/** Default for how long the node of a running Job's pod may stay not Ready before the session fails with NodeLost. */
export const DEFAULT_NODE_LOST_LIMIT_MS = 60_000;

/** How often a session whose pod has not started looks again (events, which change no pod, say why a mount fails). */
export const POD_START_POLL_MS = 3_000;

export interface SessionObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; creationTimestamp?: Date | string; resourceVersion?: string };
  status?: { phase?: SessionPhase; conditions?: Condition[]; [k: string]: unknown };
}

/** What a session needs to run, once its own spec (and a backup's configuration) is read. */
export type SessionPlan =
  | { ok: false; problem: Problem }
  | {
      ok: true;
      repository: ObjectRef | undefined;
      target: TargetRef | undefined;
      timeOut: string | undefined;
      /** The pod settings the session asks for (its uid decides what the Job can read and restore). */
      runtime: RuntimeSettings | undefined;
      build: (repository: Repository, credentialsSecretName: string, now: Date) => { ok: true; job: V1Job } | { ok: false; refusals: Refusal[] };
    };

export interface SessionKind<S extends SessionObject> {
  kind: "BackupSession" | "RestoreSession";
  plural: string;
  component: "backup" | "restore";
  /** SAS permissions the Job gets. */
  permissions: string;
  jobName: (sessionName: string) => string;
  plan: (session: S) => Promise<SessionPlan>;
  /** Status fields for a finished Job (phase, conditions and the kind's figures). */
  finishedStatus: (session: S, outcome: Extract<JobOutcome, { state: "finished" }>, target: TargetRef | undefined, now: Date) => Record<string, unknown>;
  /** The kind's own verdict on a finished Job (a restore that restored nothing says so). */
  judge?: (session: S, outcome: Extract<JobOutcome, { state: "finished" }>) => Extract<JobOutcome, { state: "finished" }>;
  /** Called once per successful result, before the session's status is written. */
  onSucceeded?: (result: JobResult, session: S, repository: { namespace: string; name: string }) => Promise<void>;
}

export class SessionReconciler<S extends SessionObject> {
  private readonly rt: SessionRuntime;
  private readonly k: SessionKind<S>;
  /**
   * Session key -> when this process first saw it wait for its Repository. In memory: after a
   * restart the bound starts again, so it is at most the limit after the operator last started.
   */
  private readonly waitingSince = new Map<string, number>();

  constructor(rt: SessionRuntime, kind: SessionKind<S>) {
    this.rt = rt;
    this.k = kind;
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const { deps } = this.rt;
    const session = await deps.kube.find<S>({ group: STASH_GROUP, version: V1BETA1, plural: this.k.plural }, namespace, name);
    const key = `${namespace}/${name}`;
    if (!session) {
      this.waitingSince.delete(key);
      return {};
    }
    const jobName = this.k.jobName(name);
    const phase = session.status?.phase;
    const uid = session.metadata?.uid;
    if (isFinishedPhase(phase)) {
      // A session failed because its pod never started, or its node was lost, owns a Job that would
      // otherwise wait on (the operator may have stopped between the status write and the deletion).
      const abandoned = [POD_STARTED_CONDITION, NODE_READY_CONDITION].some((t) => findCondition(session.status?.conditions, t)?.status === "False");
      if (phase === "Failed" && abandoned) await this.rt.deleteJob(namespace, jobName, session.metadata?.uid);
      await this.rt.deleteJobCredentials(namespace, jobName, uid);
      return this.settleLeftoverJob(session, jobName);
    }
    // A Job already made (by us, maybe before a restart) is observed whatever else changed since;
    // one of that name that is not this session's is never adopted (ownership.ts).
    const existing = await this.rt.readJob(namespace, jobName);
    if (existing) return ownedBy(existing, uid) ? this.observe(session, existing) : this.fail(session, nameTaken("Job", namespace, jobName, existing));

    const now = deps.clock();
    const plan = await this.k.plan(session);
    if (!plan.ok) return this.fail(session, plan.problem);
    const check = await checkRepository(this.rt, namespace, plan.repository, plan.target);
    if (check.kind === "wait") {
      const since = this.waitingSince.get(key) ?? now.getTime();
      this.waitingSince.set(key, since);
      const limit = deps.repositoryWaitLimitMs ?? DEFAULT_REPOSITORY_WAIT_LIMIT_MS;
      if (now.getTime() - since < limit) {
        await this.writeStatus(session, { ...sessionState(session.status?.conditions, "Pending", check.reason, check.message, now), repository: check.repositoryName });
        return { requeueAfterMs: Math.min(WAIT_POLL_MS, Math.max(50, since + limit - now.getTime())) };
      }
      this.waitingSince.delete(key);
      const gaveUp = `gave up after waiting ${formatDuration(limit)} for Repository ${check.repositoryName} to be validated`;
      return this.fail(session, check.blocker ? { reason: check.blocker.reason, message: `${gaveUp}: ${check.blocker.message}` } : { reason: "RepositoryNotValidated", message: `${gaveUp}; is the operator watching its namespace?` });
    }
    this.waitingSince.delete(key);
    if (check.kind === "fail") return this.fail(session, check);
    const repository = check.repository;
    const built = plan.build(repository, jobSecretName(jobName), now);
    if (!built.ok) return this.fail(session, { reason: "Unsupported", message: built.refusals.map((r) => `${r.field}: ${r.message}`).join("; ") });
    let job = built.job;
    const repoName = repository.metadata?.name ?? "";

    let problem: Problem | undefined;
    let where = "";
    const created = session.metadata?.creationTimestamp ? new Date(session.metadata.creationTimestamp).getTime() : now.getTime();
    const busy = await this.rt.withRepositorySlot(repository, { key: `${namespace}/${jobName}`, created, name }, async () => {
      // Before any Job: the identity it runs as, and what a non-root one cannot do, said on the session.
      const refuse = (p: Problem) => {
        problem = p;
        this.rt.releaseSlot({ namespace: repository.metadata?.namespace ?? "", name: repoName }, `${namespace}/${jobName}`);
      };
      const mode = privilegeMode(plan.runtime, deps.jobOptions, namespace, await this.rt.namespaceLabels(namespace));
      if (mode.kind === "refused") return refuse(mode);
      if (mode.kind === "nonRoot" && mode.forced) job = withNonRootUid(job, mode.uid);
      // Where the volume is: a ReadWriteOnce volume in use is attached to its user's node.
      const claim = job.spec?.template?.spec?.volumes?.find((v) => v.name === VOLUME_NAME)?.persistentVolumeClaim?.claimName;
      const pvc = claim ? await this.rt.getPvc(namespace, claim) : undefined;
      if (claim && pvc) {
        const place = placement(pvc, podsUsingClaim(await this.rt.podsIn(namespace), claim, jobName));
        if (place.kind === "refused") return refuse(place.problem);
        if (place.kind === "node") {
          job = pinToNode(job, place.node, place.tolerations);
          where = ` on node ${place.node}, where pod ${place.users.join(", ")} uses it`;
        }
      }
      const notice = nonRootNotice(mode, this.k.component);
      if (notice) await this.note(session, notice, "Warning");
      problem = await this.rt.ensureJobCredentials({
        namespace,
        jobName,
        owner: job.metadata!.ownerReferences![0]!,
        labels: job.metadata?.labels ?? {},
        repository,
        permissions: this.k.permissions,
        lifetimeMs: parseDuration(plan.timeOut ?? deps.jobOptions.defaultTimeOut ?? "") ?? DEFAULT_JOB_LIFETIME_MS,
      });
      if (problem) return;
      try {
        const made = await this.rt.createOrAdoptJob(job);
        if (!ownedBy(made, uid)) {
          problem = nameTaken("Job", namespace, jobName, made);
          this.rt.releaseSlot({ namespace: repository.metadata?.namespace ?? "", name: repoName }, `${namespace}/${jobName}`);
          await this.rt.deleteJobCredentials(namespace, jobName, uid);
          return;
        }
      } catch (err) {
        // A Job the API server refuses (a runtime setting it rejects, a quota, an admission policy) is
        // the session's answer, not a retry loop: nothing about it changes by trying again.
        problem = refusedByApiServer(err, "Job");
        if (!problem) throw err;
        this.rt.releaseSlot({ namespace: repository.metadata?.namespace ?? "", name: repoName }, `${namespace}/${jobName}`);
        await this.rt.deleteJobCredentials(namespace, jobName, uid);
      }
    });
    if (busy) {
      const message =
        "job" in busy
          ? `waiting for Job ${busy.job}: one Job per Repository runs at a time`
          : `waiting for the session of Job ${busy.queuedBehind}, which was created earlier: sessions of a Repository run in order`;
      await this.writeStatus(session, { ...sessionState(session.status?.conditions, "Pending", "Queued", message, now), repository: repoName });
      return { requeueAfterMs: WAIT_POLL_MS };
    }
    if (problem) return this.fail(session, problem);
    const message = `Job ${jobName} is running the ${this.k.component} of PVC ${plan.target?.name}${where}`;
    await this.writeStatus(session, { ...sessionState(session.status?.conditions, "Running", "JobStarted", message, now), repository: repoName });
    deps.events.record(this.involved(session), "Normal", "JobStarted", `started Job ${jobName}`);
    return {};
  }

  private async observe(session: S, job: V1Job): Promise<ReconcileResult> {
    const { deps } = this.rt;
    const namespace = session.metadata?.namespace ?? "";
    const now = deps.clock();
    const pods = await this.rt.podsOf(job);
    const observed = jobOutcome(job, pods);
    const outcome = observed.state === "finished" && this.k.judge ? this.k.judge(session, observed) : observed;
    const repo = await this.repositoryOf(session);
    if (outcome.state === "running") {
      if (session.status?.phase !== "Running") {
        await this.writeStatus(session, { ...sessionState(session.status?.conditions, "Running", "JobStarted", `Job ${job.metadata?.name} is running`, now), repository: repo.name });
      }
      return this.watchStart(session, job, pods, repo);
    }
    // The Repository first: if we stop between the two writes, the session is observed again.
    if (outcome.succeeded && outcome.result && repo.allowed) await this.k.onSucceeded?.(outcome.result, session, repo);
    const claim = job.spec?.template?.spec?.volumes?.find((v) => v.name === VOLUME_NAME)?.persistentVolumeClaim?.claimName;
    const target = claim ? { apiVersion: "v1", kind: PVC_KIND, name: claim } : undefined;
    const status = { ...this.k.finishedStatus(session, outcome, target, now), repository: repo.name };
    const wrote = await this.writeStatus(session, status);
    await this.rt.deleteJobCredentials(namespace, job.metadata?.name ?? "", session.metadata?.uid);
    this.rt.releaseSlot(repo, `${namespace}/${job.metadata?.name}`);
    if (wrote) {
      const phase = phaseOf(outcome);
      sessionsTotal.inc({ kind: this.k.kind, phase });
      const started = job.status?.startTime ? new Date(job.status.startTime) : undefined;
      if (started) {
        const seconds = Math.max(0, ((outcome.finishedAt ?? now).getTime() - started.getTime()) / 1000);
        jobDuration.observe({ kind: this.k.component, outcome: phase === "Succeeded" ? "success" : phase === "PartiallyFailed" ? "partial" : "failure" }, seconds);
      }
      deps.events.record(this.involved(session), phase === "Succeeded" ? "Normal" : "Warning", outcome.reason, outcome.message);
    }
    return {};
  }

  /**
   * The Repository a finished Job reports to: from the session's spec, checked again against the
   * Repository's usage policy (the spec may have changed while the Job ran). Never from the Job's
   * labels, which anyone who may edit Jobs in the namespace can rewrite.
   */
  private async repositoryOf(session: S): Promise<{ namespace: string; name: string; allowed: boolean }> {
    const namespace = session.metadata?.namespace ?? "";
    const plan = await this.k.plan(session);
    const ref = plan.ok ? plan.repository : undefined;
    const name = ref?.name ?? (typeof session.status?.repository === "string" ? session.status.repository : "");
    const repoNs = ref?.namespace || namespace;
    if (!ref?.name || repoNs === namespace) return { namespace: repoNs, name, allowed: !!ref?.name };
    const repository = await this.rt.getRepository(repoNs, name).catch(() => undefined);
    const allowed = !!repository && !usageRefusal(repository, namespace, await this.rt.namespaceLabels(namespace));
    return { namespace: repoNs, name, allowed };
  }

  /**
   * A Job whose pod has not started: the scheduler's or kubelet's reason on the session (condition
   * PodStarted False) within seconds, and after the admin's bound the session fails with that reason
   * and the Job and its credentials go.
   */
  private async watchStart(session: S, job: V1Job, pods: V1Pod[], repo: { namespace: string; name: string }): Promise<ReconcileResult> {
    const { deps } = this.rt;
    const namespace = session.metadata?.namespace ?? "";
    const jobName = job.metadata?.name ?? "";
    let start = podStart(job, pods, []);
    if (start.state === "waiting" && !start.problem) {
      start = podStart(job, pods, await this.rt.eventsAbout(namespace, [jobName, ...pods.map((p) => p.metadata?.name ?? "")]));
    }
    const shown = findCondition(session.status?.conditions, POD_STARTED_CONDITION);
    if (start.state === "started") {
      if (shown && shown.status !== "True") {
        const node = pods.find((p) => p.spec?.nodeName)?.spec?.nodeName;
        await this.note(session, { type: POD_STARTED_CONDITION, status: "True", reason: "Started", message: `the Job's pod started${node ? ` on node ${node}` : ""}` }, "Normal");
      }
      return this.watchNode(session, job, pods, repo);
    }
    const now = deps.clock().getTime();
    const created = job.metadata?.creationTimestamp ? new Date(job.metadata.creationTimestamp).getTime() : now;
    const limit = deps.podStartLimitMs ?? DEFAULT_POD_START_LIMIT_MS;
    if (start.problem) await this.note(session, { type: POD_STARTED_CONDITION, status: "False", ...start.problem }, "Warning");
    if (now - created < limit) return { requeueAfterMs: Math.max(50, Math.min(POD_START_POLL_MS, created + limit - now)) };
    const problem = notStartedProblem(formatDuration(limit), start.problem);
    if (!start.problem) await this.note(session, { type: POD_STARTED_CONDITION, status: "False", reason: problem.reason, message: "no scheduler or kubelet message said why" }, "Warning");
    return this.abandon(session, jobName, problem, repo);
  }

  /**
   * A started pod whose node stopped answering: the node lifecycle controller's verdict on the
   * session (condition NodeReady False) within seconds of it, and after the admin's bound the
   * session fails with NodeLost and the Job and its credentials go, instead of waiting minutes for
   * the pod's eviction. The Node is read only when the pod is not Ready (the controller marks the
   * pods of a lost node so) or the session already shows the node lost.
   */
  private async watchNode(session: S, job: V1Job, pods: V1Pod[], repo: { namespace: string; name: string }): Promise<ReconcileResult> {
    const pod = runningPod(pods);
    const shown = findCondition(session.status?.conditions, NODE_READY_CONDITION);
    if (!pod || (podReady(pod) && shown?.status !== "False")) return {};
    const nodeName = pod.spec?.nodeName ?? "";
    const node = await this.rt.getNode(nodeName);
    if (node === "forbidden") return {};
    const now = this.rt.deps.clock().getTime();
    const health = nodeHealth(pod, node, now);
    if (health.state === "ready") {
      if (shown?.status === "False") await this.note(session, { type: NODE_READY_CONDITION, status: "True", reason: "NodeReady", message: `node ${nodeName} is Ready again` }, "Normal");
      return {};
    }
    await this.note(session, { type: NODE_READY_CONDITION, status: "False", ...health.problem }, "Warning");
    const limit = this.rt.deps.nodeLostLimitMs ?? DEFAULT_NODE_LOST_LIMIT_MS;
    if (now - health.since < limit) return { requeueAfterMs: Math.max(50, Math.min(POD_START_POLL_MS, health.since + limit - now)) };
    return this.abandon(session, job.metadata?.name ?? "", nodeLostProblem(formatDuration(limit), health.problem), repo);
  }

  /**
   * A session with its verdict whose Job is not finished (its pod exited, and its node died before
   * posting the pod's phase): the Job holds its Repository's slot until deleted (node-loss.ts).
   */
  private async settleLeftoverJob(session: S, jobName: string): Promise<ReconcileResult> {
    const namespace = session.metadata?.namespace ?? "";
    const uid = session.metadata?.uid;
    // From the informer only: every finished session is reconciled at each resync, and most have
    // no Job left, so asking the API server would cost a GET each time for nothing. A leftover Job
    // is an active one, which the cache holds.
    const job = this.rt.deps.jobs.get(jobName, namespace);
    if (!job || !ownedBy(job, uid) || jobFinished(job) || job.metadata?.deletionTimestamp) return {};
    const pod = runningPod(await this.rt.podsOf(job));
    const node = pod ? await this.rt.getNode(pod.spec?.nodeName ?? "") : undefined;
    const limit = this.rt.deps.nodeLostLimitMs ?? DEFAULT_NODE_LOST_LIMIT_MS;
    const next = leftoverJob(pod, node, this.rt.deps.clock().getTime(), limit, formatDuration(limit));
    if (next.action === "recheck") return { requeueAfterMs: next.afterMs };
    if (next.action === "delete") {
      await this.rt.deleteJob(namespace, jobName, uid);
      this.rt.deps.events.record(this.involved(session), "Warning", "JobDeleted", next.message);
    }
    return {};
  }

  /** Fails a session whose Job cannot finish, and deletes the Job and its credentials, freeing the Repository's slot. */
  private async abandon(session: S, jobName: string, problem: Problem, repo: { namespace: string; name: string }): Promise<ReconcileResult> {
    const namespace = session.metadata?.namespace ?? "";
    await this.fail(session, problem);
    await this.rt.deleteJob(namespace, jobName, session.metadata?.uid);
    await this.rt.deleteJobCredentials(namespace, jobName, session.metadata?.uid);
    this.rt.releaseSlot(repo, `${namespace}/${jobName}`);
    return {};
  }

  private async fail(session: S, problem: Problem): Promise<ReconcileResult> {
    const now = this.rt.deps.clock();
    this.rt.leaveLine(`${session.metadata?.namespace}/${this.k.jobName(session.metadata?.name ?? "")}`);
    const wrote = await this.writeStatus(session, sessionState(session.status?.conditions, "Failed", problem.reason, problem.message, now));
    if (wrote) {
      sessionsTotal.inc({ kind: this.k.kind, phase: "Failed" });
      this.rt.deps.events.record(this.involved(session), "Warning", problem.reason, problem.message);
    }
    return {};
  }

  /** Sets one condition beside the phase (and records it as an event the first time it is written). */
  private async note(session: S, condition: ConditionInput, type: "Normal" | "Warning"): Promise<void> {
    const conditions = setCondition(session.status?.conditions, condition, this.rt.deps.clock());
    if (await this.writeStatus(session, { conditions })) this.rt.deps.events.record(this.involved(session), type, condition.reason, condition.message);
  }

  private async writeStatus(session: S, status: Record<string, unknown>): Promise<boolean> {
    const ref = { group: STASH_GROUP, version: V1BETA1, plural: this.k.plural, namespace: session.metadata?.namespace ?? "", name: session.metadata?.name ?? "" };
    const wrote = await patchStatusIfChanged(this.rt.deps.kube, ref, session.status, status);
    if (wrote) session.status = { ...session.status, ...status } as S["status"];
    return wrote;
  }

  private involved(session: S) {
    return { apiVersion: V1BETA1_API_VERSION, kind: this.k.kind, metadata: session.metadata ?? {} } as Parameters<SessionRuntime["deps"]["events"]["record"]>[0];
  }
}
