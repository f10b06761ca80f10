// A Job's pod that runs on a node that stopped answering. The node lifecycle controller marks such a
// node Ready=Unknown (its kubelet stopped posting status) or False within its grace period, and the
// pod's own Ready condition False; Kubernetes itself deletes the pod only after the pod's toleration
// of the unreachable taint (5 min by default), and the Job fails later still. The session says so at
// once (condition NodeReady False, naming the node and quoting it) and fails with NodeLost once the
// node stayed away for the admin's bound (--node-lost-limit). Pure: the reconciler reads the Node.

import type { V1Node, V1Pod } from "@kubernetes/client-node";
import type { Problem } from "./runtime.ts";

/** The condition a running session carries while the node of its Job's pod is not Ready. */
export const NODE_READY_CONDITION = "NodeReady";

/** The pod of the Job that runs (or ran) on a node and has not finished: the one a lost node takes down. */
export function runningPod(pods: readonly V1Pod[]): V1Pod | undefined {
  return pods.find((p) => !!p.spec?.nodeName && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed");
}

/** Whether the pod looks healthy from the API: the node lifecycle controller sets Ready False on the pods of a lost node. */
export function podReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

export type NodeHealth =
  | { state: "ready" }
  /** Not Ready since `since` (ms); `problem` for the session's condition. */
  | { state: "lost"; since: number; problem: Problem };

/**
 * Whether `node` (undefined: the Node object is gone) can still run `pod`. Ready=Unknown means its
 * kubelet stopped posting status (the node is unreachable), Ready=False that it says it is not ready.
 */
export function nodeHealth(pod: V1Pod, node: V1Node | undefined, now: number): NodeHealth {
  const name = pod.spec?.nodeName ?? "";
  const podName = pod.metadata?.name ?? "";
  if (!node) return { state: "lost", since: now, problem: { reason: "NodeDeleted", message: `node ${name}, where pod ${podName} runs, was deleted` } };
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.status === "True") return { state: "ready" };
  const t = ready?.lastTransitionTime ? new Date(ready.lastTransitionTime as unknown as string).getTime() : NaN;
  const since = Number.isFinite(t) ? Math.min(t, now) : now;
  const reason = ready?.status === "False" ? "NodeNotReady" : "NodeUnreachable";
  const said = [ready?.reason, ready?.message?.trim()].filter(Boolean).join(": ") || "no Ready condition";
  return { state: "lost", since, problem: { reason, message: `node ${name}, where pod ${podName} runs, is not Ready since ${new Date(since).toISOString()} (${said})` } };
}

/** The session's failure once the node stayed lost for the admin's bound. */
export function nodeLostProblem(waited: string, problem: Problem): Problem {
  return {
    reason: "NodeLost",
    message: `${problem.message}; after ${waited} (the operator's --node-lost-limit) the Job and its credentials were deleted`,
  };
}

/** How often the Job of a session that has its verdict is looked at again while the Job is not finished. */
export const LEFTOVER_JOB_POLL_MS = 5_000;

export type LeftoverJob =
  /** Nothing to do: no pod of it still runs on a node (the Job controller finishes it), or Nodes cannot be read. */
  | { action: "keep" }
  /** Look again: the pod's node may still post its phase, or may die before it does (nothing else would say so). */
  | { action: "recheck"; afterMs: number }
  /** Delete it: its pod's node has been lost for the bound, so the pod's phase will never be posted. */
  | { action: "delete"; message: string };

/**
 * The Job of a session that already has its verdict (read from its pod's exit) while the Job is not
 * finished: the kubelet posts the pod's terminal phase only after tearing the pod down, and a node
 * that dies in between never posts it. Such a Job stays active until the pod's eviction minutes later
 * (and may then start a second pod), holding its Repository's one-Job slot, so the next session
 * queues behind a backup that is over. Once the node has been lost for `limitMs` (the same bound as
 * a running pod's, --node-lost-limit), the Job is deleted; a node that only blinked keeps it, and a deleted Node's goes at once.
 */
export function leftoverJob(pod: V1Pod | undefined, node: V1Node | undefined | "forbidden", now: number, limitMs: number, waited: string): LeftoverJob {
  if (!pod || node === "forbidden") return { action: "keep" };
  const health = nodeHealth(pod, node, now);
  if (health.state === "ready") return { action: "recheck", afterMs: LEFTOVER_JOB_POLL_MS };
  // A deleted Node never comes back to post anything: no bound to wait out.
  const left = node ? health.since + limitMs - now : 0;
  if (left > 0) return { action: "recheck", afterMs: Math.max(50, Math.min(LEFTOVER_JOB_POLL_MS, left)) };
  const after = node ? `after ${waited} (the operator's --node-lost-limit) ` : "";
  return { action: "delete", message: `the session already has its result, but ${health.problem.message}, so its pod's end is never posted; ${after}the Job was deleted, freeing its Repository` };
}
