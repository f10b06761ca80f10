// Pod events as kubelet records them (source component "kubelet"), so `kubectl describe pod` and
// `kubectl get events` explain a pod run by the agent. Best effort: a lost event is never an error.
// Messages name objects and keys, never values.
import { randomBytes } from "node:crypto";
import type { CoreV1Api, V1Pod } from "@kubernetes/client-node";

export type EventSink = (pod: V1Pod, type: "Normal" | "Warning", reason: string, message: string, container?: string) => void;

export function eventSink(core: CoreV1Api, nodeName: string): EventSink {
  return (pod, type, reason, message, container) => {
    const namespace = pod.metadata?.namespace ?? "default";
    const now = new Date();
    const isInit = !!container && (pod.spec?.initContainers ?? []).some((c) => c.name === container);
    core
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${pod.metadata?.name ?? "pod"}.${randomBytes(8).toString("hex")}`, namespace },
          involvedObject: {
            apiVersion: "v1",
            kind: "Pod",
            name: pod.metadata?.name,
            namespace,
            uid: pod.metadata?.uid,
            ...(container ? { fieldPath: `spec.${isInit ? "initContainers" : "containers"}{${container}}` } : {}),
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: "kubelet", host: nodeName },
          reportingComponent: "kubelet",
          reportingInstance: nodeName,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
      .catch(() => undefined);
  };
}
