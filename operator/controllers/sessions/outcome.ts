// What a finished (or unfinished) Job says about its session. Pure: the reconcilers fetch the Job and
// its Pods, this decides.

import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { parseJobResult, type JobResult } from "../../api/result.ts";
import { CONTAINER_NAME } from "../jobs/pod.ts";

export type JobOutcome =
  | { state: "running"; startedAt?: Date }
  | {
      state: "finished";
      /** A snapshot was made (backup) or the restore completed: the Repository's figures follow it. */
      succeeded: boolean;
      /** Succeeded, but not all of it: unreadable files, or retention or statistics failed after the snapshot. */
      partial?: boolean;
      result?: JobResult;
      reason: string;
      message: string;
      finishedAt?: Date;
    };

const JOB_FAILURE_REASONS: Record<string, { reason: string; message: string }> = {
  DeadlineExceeded: { reason: "Timeout", message: "the Job ran past the session's timeOut and was stopped" },
  BackoffLimitExceeded: { reason: "JobFailed", message: "the Job's pod failed" },
};

function jobCondition(job: V1Job, type: string) {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

/** Terminated state of the wrapper container in the newest pod of the Job that has one, and that pod. */
function terminatedWrapper(pods: readonly V1Pod[]) {
  const created = (p: V1Pod) => toDate(p.metadata?.creationTimestamp)?.getTime() ?? 0;
  const sorted = [...pods].sort((a, b) => created(b) - created(a));
  for (const pod of sorted) {
    const status = pod.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME) ?? pod.status?.containerStatuses?.[0];
    const t = status?.state?.terminated;
    if (t) return { t, pod };
  }
  return undefined;
}

/**
 * Why the kubelet or a controller ended the pod, when that is the story rather than the wrapper's
 * exit: the kernel's OOM kill at the container's limit, the kubelet's eviction (ephemeral storage,
 * the restic cache, memory pressure), the node gone, a preemption.
 */
export function podEnding(pods: readonly V1Pod[], job: V1Job): { reason: string; message: string } | undefined {
  const ended = terminatedWrapper(pods);
  if (ended?.t.reason === "OOMKilled") {
    const limit = job.spec?.template?.spec?.containers?.find((c) => c.name === CONTAINER_NAME)?.resources?.limits?.memory;
    return {
      reason: "OutOfMemory",
      message: `the kernel killed the Job's container at its memory limit${limit !== undefined ? ` (${String(limit)})` : ""} (exit code ${ended.t.exitCode}): raise runtimeSettings.container.resources.limits.memory`,
    };
  }
  for (const pod of pods) {
    const name = pod.metadata?.name;
    if (pod.status?.reason === "Evicted") return { reason: "Evicted", message: `the kubelet evicted pod ${name}: ${pod.status.message ?? "no message"}` };
    const disrupted = pod.status?.conditions?.find((c) => c.type === "DisruptionTarget" && c.status === "True");
    if (!disrupted) continue;
    const node = pod.spec?.nodeName ? ` on node ${pod.spec.nodeName}` : "";
    const why = `pod ${name}${node}: ${disrupted.message ?? disrupted.reason}`;
    if (disrupted.reason === "DeletionByTaintManager") return { reason: "NodeLost", message: why };
    if (disrupted.reason === "PreemptionByScheduler") return { reason: "Preempted", message: why };
    return { reason: "Evicted", message: why };
  }
  return undefined;
}

/**
 * The wrapper's JSON result is the source of truth when there is one; the Job's own conditions
 * speak when the wrapper never got to write it (deadline, eviction, a crash before restic ran).
 */
export function jobOutcome(job: V1Job, pods: readonly V1Pod[]): JobOutcome {
  const complete = jobCondition(job, "Complete") ?? jobCondition(job, "SuccessCriteriaMet");
  const failed = jobCondition(job, "Failed") ?? jobCondition(job, "FailureTarget");
  const terminated = terminatedWrapper(pods)?.t;
  const parsed = parseJobResult(terminated?.message);
  if (!complete && !failed) {
    // The wrapper exited with its result: the session is done. The Job controller batches pod
    // updates for a second before it marks the Job finished; waiting for that would add the second
    // to every backup. (restartPolicy Never and backoffLimit 0: this pod is the Job's only one.)
    if (parsed.ok) return explained(fromResult(parsed.result, toDate(terminated?.finishedAt)), pods, job);
    return { state: "running", startedAt: toDate(job.status?.startTime) };
  }

  const finishedAt = toDate(complete?.lastTransitionTime ?? failed?.lastTransitionTime ?? job.status?.completionTime);
  if (parsed.ok) return explained(fromResult(parsed.result, finishedAt), pods, job);
  if (complete) {
    return { state: "finished", succeeded: false, reason: "ResultMissing", message: `the Job completed but its pod reported no result (${parsed.error})`, finishedAt };
  }
  const ending = podEnding(pods, job);
  if (ending) return { state: "finished", succeeded: false, ...ending, finishedAt };
  const known = JOB_FAILURE_REASONS[failed?.reason ?? ""];
  const exit = terminated ? ` (exit code ${terminated.exitCode}${terminated.reason ? `, ${terminated.reason}` : ""})` : "";
  const tail = terminated?.message ? `: ${terminated.message.trim().split("\n").slice(-3).join(" | ").slice(0, 300)}` : "";
  return {
    state: "finished",
    succeeded: false,
    reason: known?.reason ?? failed?.reason ?? "JobFailed",
    message: `${known?.message ?? failed?.message ?? "the Job failed"}${exit}${tail}`,
    finishedAt,
  };
}

/** A wrapper that reports a termination signal was stopped by someone: the kubelet's eviction or the node's loss says who. */
function explained(o: JobOutcome, pods: readonly V1Pod[], job: V1Job): JobOutcome {
  if (o.state !== "finished" || o.succeeded || o.reason !== "Interrupted") return o;
  const ending = podEnding(pods, job);
  return ending ? { ...o, ...ending } : o;
}

function fromResult(r: JobResult, finishedAt: Date | undefined): JobOutcome {
  return {
    state: "finished",
    succeeded: r.outcome !== "Failed",
    ...(r.outcome === "Partial" ? { partial: true } : {}),
    result: r,
    reason: r.reason,
    message: r.message ?? (r.outcome === "Succeeded" ? `${r.action} succeeded` : `${r.action} ${r.outcome.toLowerCase()}`),
    finishedAt,
  };
}

function toDate(v: Date | string | undefined): Date | undefined {
  if (!v) return undefined;
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
