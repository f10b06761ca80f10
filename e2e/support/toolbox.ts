// Pods of the toolbox image (busybox) that put data into PVCs and read it back, as a user of a real
// cluster would: the pod mounts the claim, runs a script, and its log is the answer.

import { randomBytes } from "node:crypto";
import type { CoreV1Api, V1Pod } from "@kubernetes/client-node";
import { waitFor } from "../cluster/wait.ts";
import { describeTreeScript, parseTree, writeTreeScript, type SpecEntry, type TreeEntry } from "./tree.ts";

export const TOOLBOX_IMAGE = "localhost/toolbox:latest";
/** Where toolbox pods mount the claim. */
export const DATA = "/data";

export interface ToolboxRun {
  namespace: string;
  /** The claim to mount at /data; none for a pod that only runs the script. */
  pvc?: string;
  script: string;
  readOnly?: boolean;
  /** Pin the pod to a node (kubernetes.io/hostname). */
  node?: string;
  /** Pod name prefix. */
  name?: string;
  timeoutMs?: number;
}

export interface ToolboxResult {
  pod: string;
  node: string;
  exitCode: number;
  log: string;
}

/** The pod spec of a toolbox run (root, so it can write any owner and mode). */
export function toolboxPod(name: string, run: ToolboxRun): V1Pod {
  return {
    metadata: { name, namespace: run.namespace, labels: { "app.kubernetes.io/name": "toolbox" } },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 0,
      ...(run.node ? { nodeSelector: { "kubernetes.io/hostname": run.node } } : {}),
      containers: [
        {
          name: "toolbox",
          image: TOOLBOX_IMAGE,
          // Images are imported into the nodes; there is no registry to pull from.
          imagePullPolicy: "Never",
          command: ["sh", "-c", run.script],
          securityContext: { runAsUser: 0, runAsGroup: 0 },
          ...(run.pvc ? { volumeMounts: [{ name: "data", mountPath: DATA, ...(run.readOnly ? { readOnly: true } : {}) }] } : {}),
        },
      ],
      ...(run.pvc ? { volumes: [{ name: "data", persistentVolumeClaim: { claimName: run.pvc } }] } : {}),
    },
  };
}

/** Runs a script in a toolbox pod to completion; returns its exit code and log, and deletes the pod. */
export async function runToolbox(core: CoreV1Api, run: ToolboxRun): Promise<ToolboxResult> {
  const name = `${run.name ?? "toolbox"}-${randomBytes(3).toString("hex")}`;
  await core.createNamespacedPod({ namespace: run.namespace, body: toolboxPod(name, run) });
  let last: V1Pod | undefined;
  try {
    await waitFor(`toolbox pod ${run.namespace}/${name} to finish`, async () => {
      last = await core.readNamespacedPod({ namespace: run.namespace, name });
      return last.status?.phase === "Succeeded" || last.status?.phase === "Failed";
    }, { timeoutMs: run.timeoutMs ?? 120_000, intervalMs: 200 });
  } catch (err) {
    const waiting = last?.status?.containerStatuses?.[0]?.state?.waiting;
    const cond = last?.status?.conditions?.find((c) => c.status !== "True");
    throw new Error(`${(err as Error).message}: phase ${last?.status?.phase}${waiting ? `, ${waiting.reason}: ${waiting.message}` : ""}${cond ? `, ${cond.type}: ${cond.message}` : ""}`);
  }
  const log = await core.readNamespacedPodLog({ namespace: run.namespace, name });
  const exitCode = last?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode ?? -1;
  await core.deleteNamespacedPod({ namespace: run.namespace, name, gracePeriodSeconds: 0 }).catch(() => undefined);
  return { pod: name, node: last?.spec?.nodeName ?? "", exitCode, log };
}

/** Like runToolbox, but fails with the log when the script exits non-zero. */
export async function mustRunToolbox(core: CoreV1Api, run: ToolboxRun): Promise<ToolboxResult> {
  const r = await runToolbox(core, run);
  if (r.exitCode !== 0) throw new Error(`toolbox script in ${run.namespace}${run.pvc ? ` on PVC ${run.pvc}` : ""} exited ${r.exitCode}:\n${r.log}`);
  return r;
}

/** Writes `spec` into the PVC (into `sub`, a directory inside it, when given). */
export async function writeTree(core: CoreV1Api, namespace: string, pvc: string, spec: readonly SpecEntry[], sub = ""): Promise<void> {
  const root = sub ? `${DATA}/${sub}` : DATA;
  await mustRunToolbox(core, { namespace, pvc, name: "write-tree", script: `mkdir -p ${root}\n${writeTreeScript(root, spec)}` });
}

/** Every entry of the PVC (or of `sub` inside it), read by a pod that mounts it read-only. */
export async function readTree(core: CoreV1Api, namespace: string, pvc: string, sub = ""): Promise<TreeEntry[]> {
  const r = await mustRunToolbox(core, { namespace, pvc, readOnly: true, name: "read-tree", script: describeTreeScript(sub ? `${DATA}/${sub}` : DATA) });
  return parseTree(r.log);
}
