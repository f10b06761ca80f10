// Why a Job's pod has not started, in the words of whoever stopped it: the scheduler (PodScheduled
// False), the kubelet (a waiting container's reason, FailedMount events), the attach/detach
// controller (FailedAttachVolume, Multi-Attach), the Job controller (FailedCreate: an admission
// policy or quota refused the pod), the node lifecycle controller (the node is gone). Pure: the
// reconciler reads the Job, its pods and their events.

import type { CoreV1Event, V1Job, V1Pod } from "@kubernetes/client-node";
import type { Problem } from "./runtime.ts";

/** The condition a running session carries while (and once) its Job's pod cannot start. */
export const POD_STARTED_CONDITION = "PodStarted";

/** The kubelet's waiting reasons that will not go away by waiting, and what they mean for the session. */
const WAITING: Record<string, string> = {
  ErrImagePull: "ImagePullFailed",
  ImagePullBackOff: "ImagePullFailed",
  InvalidImageName: "ImagePullFailed",
  ErrImageNeverPull: "ImagePullFailed",
  CreateContainerConfigError: "ContainerCreateFailed",
  CreateContainerError: "ContainerCreateFailed",
  RunContainerError: "ContainerCreateFailed",
};

/** Events (reason → session reason) that explain a pod stuck in ContainerCreating, or a Job without a pod. */
const EVENT_REASONS: Record<string, string> = {
  FailedMount: "VolumeMountFailed",
  FailedAttachVolume: "VolumeAttachFailed",
  FailedCreatePodSandBox: "ContainerCreateFailed",
  FailedCreate: "PodRejected",
};

export type PodStart =
  | { state: "started" }
  /** Not started yet; `problem` when something says why. */
  | { state: "waiting"; problem?: Problem };

function started(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  if (phase === "Running" || phase === "Succeeded" || phase === "Failed") return true;
  return !!pod.status?.containerStatuses?.some((c) => c.state?.running || c.state?.terminated);
}

const newest = (events: readonly CoreV1Event[]): CoreV1Event[] =>
  [...events].sort((a, b) => time(b) - time(a));

function time(e: CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t ? new Date(t as string | Date).getTime() || 0 : 0;
}

function fromEvents(events: readonly CoreV1Event[], kind: "Pod" | "Job"): Problem | undefined {
  for (const e of newest(events)) {
    if (e.type !== "Warning" || e.involvedObject?.kind !== kind) continue;
    const reason = EVENT_REASONS[e.reason ?? ""];
    if (reason) return { reason, message: `${e.reason}: ${(e.message ?? "").trim()}` };
  }
  return undefined;
}

/**
 * Whether the Job's pod started, and if not, why. `events` are those about the Job and its pods
 * (the reconciler lists them only while the pod waits).
 */
export function podStart(_job: V1Job, pods: readonly V1Pod[], events: readonly CoreV1Event[]): PodStart {
  const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
  if (pods.some(started)) return { state: "started" };
  const pod = live[0] ?? pods[0];
  if (!pod) {
    const rejected = fromEvents(events, "Job");
    return rejected ? { state: "waiting", problem: rejected } : { state: "waiting" };
  }
  const lost = pod.status?.conditions?.find((c) => c.type === "DisruptionTarget" && c.status === "True");
  if (lost || pod.status?.reason === "NodeLost") {
    return { state: "waiting", problem: { reason: "NodeLost", message: `pod ${pod.metadata?.name}${pod.spec?.nodeName ? ` on node ${pod.spec.nodeName}` : ""}: ${lost?.message ?? pod.status?.message ?? "its node is gone"}` } };
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False") {
    return { state: "waiting", problem: { reason: scheduled.reason === "Unschedulable" ? "Unschedulable" : scheduled.reason || "Unschedulable", message: `pod ${pod.metadata?.name}: ${scheduled.message ?? "not scheduled"}` } };
  }
  for (const c of pod.status?.containerStatuses ?? []) {
    const w = c.state?.waiting;
    const reason = WAITING[w?.reason ?? ""];
    if (reason) return { state: "waiting", problem: { reason, message: `pod ${pod.metadata?.name}: ${w!.reason}: ${(w!.message ?? "").trim()}` } };
  }
  const fromKubelet = fromEvents(events.filter((e) => e.involvedObject?.name === pod.metadata?.name), "Pod");
  if (fromKubelet) return { state: "waiting", problem: { ...fromKubelet, message: `pod ${pod.metadata?.name}${pod.spec?.nodeName ? ` on node ${pod.spec.nodeName}` : ""}: ${fromKubelet.message}` } };
  return { state: "waiting" };
}

/** The session's failure once the pod did not start within the admin's bound. */
export function notStartedProblem(waited: string, problem: Problem | undefined): Problem {
  return {
    reason: problem?.reason ?? "PodNotStarted",
    message: `the Job's pod did not start within ${waited} (the operator's --pod-start-limit), so the Job and its credentials were deleted: ${problem?.message ?? "no scheduler or kubelet message said why"}`,
  };
}
