import { randomBytes } from "node:crypto";
import type { KubeClient } from "./api-client.ts";
import { EVENTS } from "./resources.ts";
import { redact, secretsFor } from "../observability/redact.ts";
import type { Logger } from "../observability/logger.ts";

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  record(obj: InvolvedObject, type: EventType, reason: string, message: string): void;
}

/**
 * Core v1 Events, fire-and-forget: an event that cannot be written is logged, never fails a
 * reconcile. Messages are redacted like log lines.
 */
export function makeEventRecorder(kube: KubeClient, component: string, log: Logger): EventRecorder {
  const host = process.env.HOSTNAME ?? "blobstash";
  return {
    record(obj, type, reason, message) {
      const namespace = obj.metadata.namespace ?? "default";
      const now = new Date().toISOString();
      const body = {
        metadata: { name: `${obj.metadata.name ?? "object"}.${randomBytes(8).toString("hex")}`, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        type,
        reason,
        message: redact(message, secretsFor(namespace)).slice(0, 1024),
        source: { component, host },
        reportingComponent: component,
        reportingInstance: host,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      kube.create(EVENTS, namespace, body).catch((err: unknown) => {
        log.warn("could not record event", { reason, object: `${namespace}/${obj.metadata.name}`, error: String(err) });
      });
    },
  };
}
