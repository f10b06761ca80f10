// The blobstash node agent: stands in for kubelet and a container runtime on a machine that has
// neither, so that real Jobs created by a real kube-controller-manager run as local processes.
// It registers a Ready Node, acts as the scheduler for pods nobody has bound (it is the only node),
// and runs the pods bound to it (see pod-worker.ts). Everything above it is the real control plane.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import type { NodeFacts } from "./env.ts";
import { eventSink } from "./events.ts";
import { describeError, Kube, statusCode } from "./kube.ts";
import { nodeIdentity, nodeLabels, startNode } from "./node.ts";
import { PodWorker, type WorkerContext } from "./pod-worker.ts";
import { watchPods } from "./pod-source.ts";
import { killRecordedProcesses, scanPodStates } from "./state.ts";

export interface NodeAgentOptions {
  kubeconfig: string;
  nodeName: string;
  /** PVC `<ns>/<claim>` is the directory `<pvcRoot>/<ns>/<claim>/`. */
  pvcRoot: string;
  /** Pod directories (logs, termination messages, emptyDir, Secret files) live in `<workDir>/pods/`. */
  workDir: string;
  /** The base env of every container: the node's network and trust configuration. */
  nodeEnv: Record<string, string>;
  log: (msg: string) => void;
  /** Cap on termination grace periods (default 5 s). */
  maxGraceSeconds?: number;
  /**
   * Bind unscheduled pods to this node (default true). With more than one agent on a cluster, only
   * one should; the others run just the pods whose spec.nodeName names them.
   */
  schedule?: boolean;
}

const SHUTDOWN_GRACE_MS = 2000;

function matchesNodeSelector(pod: V1Pod, labels: Record<string, string>): boolean {
  return Object.entries(pod.spec?.nodeSelector ?? {}).every(([k, v]) => labels[k] === v);
}

async function retrying<T>(what: string, fn: () => Promise<T>, log: (m: string) => void, isStopped: () => boolean): Promise<T> {
  let backoff = 500;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (isStopped()) throw err;
      log(`${what} failed (${describeError(err)}); retrying in ${backoff} ms`);
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  }
}

export async function startNodeAgent(opts: NodeAgentOptions): Promise<{ stop(): Promise<void> }> {
  const log = (msg: string) => {
    try {
      opts.log(msg);
    } catch {
      // A broken logger must not take the node down.
    }
  };
  const podsDir = path.join(opts.workDir, "pods");
  await mkdir(podsDir, { recursive: true });
  await mkdir(opts.pvcRoot, { recursive: true });
  let stopped = false;

  // Processes a previous agent left behind (it was killed, or crashed) die before anything else runs.
  // Their pods are reported Failed by their workers (NodeAgentRestarted), never run again.
  for (const { state } of await scanPodStates(podsDir)) {
    const killed = await killRecordedProcesses(state);
    if (killed > 0) log(`killed ${killed} leftover process group(s) of ${state.namespace}/${state.name}`);
  }

  const kube = new Kube(opts.kubeconfig);
  const id = nodeIdentity(opts.nodeName);
  const labels = nodeLabels(opts.nodeName);
  const facts: NodeFacts = { nodeName: opts.nodeName, ip: id.ip, allocatable: { cpu: id.cpus, memory: id.memoryBytes } };
  const node = await retrying("node registration", () => startNode(kube, id, log), log, () => stopped);

  const ctx: WorkerContext = {
    kube,
    nodeName: opts.nodeName,
    ip: id.ip,
    facts,
    pvcRoot: opts.pvcRoot,
    podsDir,
    nodeEnv: opts.nodeEnv,
    maxGraceMs: (opts.maxGraceSeconds ?? 5) * 1000,
    log,
    event: eventSink(kube.core, opts.nodeName),
  };
  const workers = new Map<string, PodWorker>();
  const binding = new Set<string>();
  const unschedulable = new Set<string>();

  const bind = (pod: V1Pod): void => {
    const uid = pod.metadata?.uid ?? "";
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    if (pod.metadata?.deletionTimestamp || binding.has(uid)) return;
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return;
    if ((pod.spec?.schedulerName ?? "default-scheduler") !== "default-scheduler") return;
    if (!matchesNodeSelector(pod, labels)) {
      if (!unschedulable.has(uid)) log(`${key}: nodeSelector does not match ${opts.nodeName}; leaving it unscheduled`);
      unschedulable.add(uid);
      return;
    }
    binding.add(uid);
    kube.bindPod(pod, opts.nodeName).then(
      () => {
        log(`${key}: bound to ${opts.nodeName}`);
        ctx.event(pod, "Normal", "Scheduled", `Successfully assigned ${key} to ${opts.nodeName}`);
      },
      (err: unknown) => {
        const code = statusCode(err);
        if (code === 409 || code === 404) return; // already bound, or gone
        log(`${key}: binding failed (${describeError(err)}); retrying`);
        setTimeout(() => {
          binding.delete(uid);
          if (!stopped) bind(pod);
        }, 2000);
      },
    );
  };

  const seen = (pod: V1Pod): void => {
    const uid = pod.metadata?.uid;
    if (!uid || stopped) return;
    if (!pod.spec?.nodeName) {
      if (opts.schedule !== false) bind(pod);
      return;
    }
    if (pod.spec.nodeName !== opts.nodeName) return;
    const w = workers.get(uid);
    if (w) w.update(pod);
    else workers.set(uid, new PodWorker(ctx, pod));
  };

  const forget = (uid: string): void => {
    binding.delete(uid);
    unschedulable.delete(uid);
    const w = workers.get(uid);
    if (!w) return;
    w.gone();
    workers.delete(uid);
  };

  const source = watchPods(
    kube,
    {
      sync(pods) {
        const present = new Set(pods.map((p) => p.metadata?.uid ?? ""));
        for (const uid of [...workers.keys(), ...binding, ...unschedulable]) if (!present.has(uid)) forget(uid);
        for (const p of pods) seen(p);
      },
      added: seen,
      modified: seen,
      deleted(pod) {
        if (pod.metadata?.uid) forget(pod.metadata.uid);
      },
    },
    log,
  );
  log(`node agent ready: node ${opts.nodeName}, pods in ${podsDir}, PVCs in ${opts.pvcRoot}`);

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      source.stop();
      node.stop();
      await Promise.all([...workers.values()].map((w) => w.shutdown(SHUTDOWN_GRACE_MS)));
      workers.clear();
      log("node agent stopped");
    },
  };
}
