// Where a Job must run to mount its volume. A ReadWriteOnce volume a running pod uses is attached
// to that pod's node: a Job elsewhere hangs in ContainerCreating with a Multi-Attach error, so it is
// pinned to that node, with the pod's tolerations (whatever let the pod run there lets the Job). A
// ReadWriteOncePod volume a pod holds cannot be mounted by anyone else at all: the session says so
// instead of creating a Job. An unused volume whose PV has node affinity needs nothing here: the
// scheduler's volume binding places the pod where the PV is. Pure.

import type { V1Affinity, V1Job, V1NodeSelectorTerm, V1PersistentVolumeClaim, V1Pod, V1Toleration } from "@kubernetes/client-node";
import type { Problem } from "../sessions/runtime.ts";

export type Placement =
  | { kind: "anywhere" }
  /** `users`: the pods that hold the volume there, for the session's message. */
  | { kind: "node"; node: string; users: string[]; tolerations: V1Toleration[] }
  | { kind: "refused"; problem: Problem };

/** Pods that have the claim mounted now, or will as soon as they run on their node (terminating ones still hold it). */
export function podsUsingClaim(pods: readonly V1Pod[], claim: string, exceptJob: string): V1Pod[] {
  return pods.filter(
    (p) =>
      !!p.spec?.nodeName &&
      p.status?.phase !== "Succeeded" &&
      p.status?.phase !== "Failed" &&
      p.metadata?.labels?.["batch.kubernetes.io/job-name"] !== exceptJob &&
      (p.spec.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claim),
  );
}

export function placement(pvc: V1PersistentVolumeClaim, users: readonly V1Pod[]): Placement {
  if (users.length === 0) return { kind: "anywhere" };
  const modes = pvc.status?.accessModes ?? pvc.spec?.accessModes ?? [];
  const claim = `${pvc.metadata?.namespace}/${pvc.metadata?.name}`;
  const names = users.map((p) => `${p.metadata?.name}${p.spec?.nodeName ? ` (node ${p.spec.nodeName})` : ""}`);
  if (modes.includes("ReadWriteOncePod")) {
    return {
      kind: "refused",
      problem: {
        reason: "VolumeInUse",
        message:
          `PVC ${claim} is ReadWriteOncePod and pod ${names.join(", pod ")} holds it: no other pod, and so no Job, can mount it while that pod runs. ` +
          `Stop the pod (scale its workload to 0), then create a new session`,
      },
    };
  }
  // Shared access modes attach anywhere; a volume attached once is the node's.
  if (!modes.includes("ReadWriteOnce") || modes.includes("ReadWriteMany") || modes.includes("ReadOnlyMany")) return { kind: "anywhere" };
  const nodes = [...new Set(users.map((p) => p.spec!.nodeName!))];
  // Pods on several nodes share a volume that is not really attached once (host paths, some NFS
  // classes): any node will do.
  if (nodes.length !== 1) return { kind: "anywhere" };
  const tolerations: V1Toleration[] = [];
  const seen = new Set<string>();
  for (const t of users.flatMap((p) => p.spec?.tolerations ?? [])) {
    const key = JSON.stringify([t.key, t.operator, t.value, t.effect, t.tolerationSeconds]);
    if (!seen.has(key)) {
      seen.add(key);
      tolerations.push(t);
    }
  }
  return { kind: "node", node: nodes[0]!, users: users.map((p) => p.metadata?.name ?? ""), tolerations };
}

/**
 * The Job pinned to a node by name (node affinity on `metadata.name`, as DaemonSets pin theirs: a
 * node's hostname label need not be its name), ANDed with the affinity runtimeSettings gave, and
 * with the using pods' tolerations added to its own.
 */
export function pinToNode(job: V1Job, node: string, tolerations: readonly V1Toleration[]): V1Job {
  const out = structuredClone(job);
  const pod = out.spec?.template?.spec;
  if (!pod) return out;
  const byName = { key: "metadata.name", operator: "In", values: [node] };
  const affinity: V1Affinity = pod.affinity ?? {};
  const nodeAffinity = affinity.nodeAffinity ?? {};
  const required = nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution;
  const terms: V1NodeSelectorTerm[] = required?.nodeSelectorTerms?.length
    ? required.nodeSelectorTerms.map((t) => ({ ...t, matchFields: [...(t.matchFields ?? []), byName] }))
    : [{ matchFields: [byName] }];
  pod.affinity = { ...affinity, nodeAffinity: { ...nodeAffinity, requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } };
  const own = pod.tolerations ?? [];
  const have = new Set(own.map((t) => JSON.stringify(t)));
  const added = tolerations.filter((t) => !have.has(JSON.stringify(t)));
  if (own.length + added.length > 0) pod.tolerations = [...own, ...added];
  return out;
}
