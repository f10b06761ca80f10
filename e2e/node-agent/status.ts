// The Pod status the agent reports, computed from what it knows about its processes. Mirrors kubelet's
// getPhase and generateAPIPodStatus closely enough that the job controller, kubectl and the operator
// see what a real node would show. Times are RFC 3339 strings with second precision, like metav1.Time.
import type { V1Pod, V1PodCondition } from "@kubernetes/client-node";

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        signal?: number;
        reason: string;
        message?: string;
        startedAt?: string;
        finishedAt: string;
        containerID?: string;
      };
    };

export interface ContainerModel {
  name: string;
  image: string;
  state: ContainerState;
  lastState?: ContainerState;
  restartCount: number;
  containerID?: string;
}

export interface PodModel {
  initContainers: ContainerModel[];
  containers: ContainerModel[];
  startTime: string;
  /** Volumes and directories are prepared (kubelet's "sandbox"). */
  sandboxReady: boolean;
  /** Set when the agent ends the pod itself: deadline, deletion, its own restart. */
  forced?: { phase: "Failed" | "Succeeded"; reason?: string; message?: string };
}

export type PodPhase = "Pending" | "Running" | "Succeeded" | "Failed";

export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, "Z");
}

export function isTerminated(s: ContainerState): s is Extract<ContainerState, { terminated: unknown }> {
  return "terminated" in s;
}
function isRunning(s: ContainerState): boolean {
  return "running" in s;
}
function succeeded(s: ContainerState): boolean {
  return isTerminated(s) && s.terminated.exitCode === 0;
}

/** kubelet's getPhase for a pod whose end the agent did not force. */
export function computePhase(restartPolicy: string, model: PodModel): PodPhase {
  if (model.forced) return model.forced.phase;
  const inits = model.initContainers;
  const initFailed = inits.some((c) => isTerminated(c.state) && !succeeded(c.state));
  if (initFailed && restartPolicy === "Never") return "Failed";
  if (!inits.every((c) => succeeded(c.state))) return "Pending";

  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let ok = 0;
  for (const c of model.containers) {
    if (isRunning(c.state)) running++;
    else if (isTerminated(c.state)) {
      stopped++;
      if (succeeded(c.state)) ok++;
    } else if (c.lastState && isTerminated(c.lastState)) stopped++;
    else waiting++;
  }
  if (waiting > 0) return "Pending";
  if (running > 0) return "Running";
  if (stopped === 0) return "Pending";
  if (restartPolicy === "Always") return "Running";
  if (stopped === ok) return "Succeeded";
  if (restartPolicy === "Never") return "Failed";
  return "Running";
}

function condition(
  existing: readonly V1PodCondition[],
  type: string,
  status: boolean,
  now: string,
  generation: number | undefined,
  reason?: string,
  message?: string,
): Record<string, unknown> {
  const prev = existing.find((c) => c.type === type);
  const s = status ? "True" : "False";
  const lastTransitionTime =
    prev && prev.status === s && prev.lastTransitionTime ? rfc3339(new Date(prev.lastTransitionTime)) : now;
  return {
    type,
    status: s,
    lastProbeTime: null,
    lastTransitionTime,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  };
}

function containerStatus(c: ContainerModel, init: boolean): Record<string, unknown> {
  const running = isRunning(c.state);
  return {
    name: c.name,
    image: c.image,
    imageID: "",
    ...(c.containerID ? { containerID: c.containerID } : {}),
    ready: init ? succeeded(c.state) : running,
    started: running,
    restartCount: c.restartCount,
    state: c.state,
    lastState: c.lastState ?? {},
  };
}

/** The whole `status` to merge-patch onto the Pod (arrays are replaced wholesale by a merge patch). */
export function buildPodStatus(
  pod: V1Pod,
  model: PodModel,
  opts: { ip: string; now: Date },
): Record<string, unknown> {
  const now = rfc3339(opts.now);
  const restartPolicy = pod.spec?.restartPolicy ?? "Always";
  const phase = computePhase(restartPolicy, model);
  const existing = pod.status?.conditions ?? [];
  const generation = pod.metadata?.generation;
  const terminal = phase === "Succeeded" || phase === "Failed";

  const initPending = model.initContainers.filter((c) => !succeeded(c.state)).map((c) => c.name);
  const initialized = initPending.length === 0;
  const unready = model.containers.filter((c) => !isRunning(c.state)).map((c) => c.name);
  const containersReady = !terminal && unready.length === 0;
  const notReadyReason = terminal ? "PodCompleted" : "ContainersNotReady";
  const notReadyMessage = terminal ? undefined : `containers with unready status: [${unready.join(" ")}]`;

  const gates = (pod.spec?.readinessGates ?? []).map((g) => g.conditionType);
  const gatesMissing = gates.filter((t) => existing.find((c) => c.type === t)?.status !== "True");
  const ready = containersReady && gatesMissing.length === 0;

  const ours = new Set(["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"]);
  const conditions = [
    condition(existing, "PodReadyToStartContainers", model.sandboxReady && !terminal, now, generation),
    condition(
      existing,
      "Initialized",
      initialized,
      now,
      generation,
      initialized ? undefined : "ContainersNotInitialized",
      initialized ? undefined : `containers with incomplete status: [${initPending.join(" ")}]`,
    ),
    condition(
      existing,
      "Ready",
      ready,
      now,
      generation,
      ready ? undefined : containersReady ? "ReadinessGatesNotReady" : notReadyReason,
      ready ? undefined : containersReady ? `corresponding condition of pod readiness gate "${gatesMissing.join(", ")}" does not exist.` : notReadyMessage,
    ),
    condition(existing, "ContainersReady", containersReady, now, generation, containersReady ? undefined : notReadyReason, notReadyMessage),
    condition(existing, "PodScheduled", true, now, generation),
    ...existing
      .filter((c) => !ours.has(c.type))
      .map((c) => ({ ...c, lastTransitionTime: c.lastTransitionTime ? rfc3339(new Date(c.lastTransitionTime)) : now, lastProbeTime: null })),
  ];

  return {
    phase,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    reason: model.forced?.reason ?? null,
    message: model.forced?.message ?? null,
    conditions,
    hostIP: opts.ip,
    hostIPs: [{ ip: opts.ip }],
    podIP: opts.ip,
    podIPs: [{ ip: opts.ip }],
    startTime: model.startTime,
    ...(model.initContainers.length > 0
      ? { initContainerStatuses: model.initContainers.map((c) => containerStatus(c, true)) }
      : {}),
    containerStatuses: model.containers.map((c) => containerStatus(c, false)),
  };
}
