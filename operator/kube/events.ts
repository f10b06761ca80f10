import { randomBytes } from "node:crypto";
import type { KubeClient } from "./api-client.ts";
import { EVENTS } from "./resources.ts";
import { redact, secretsFor } from "../observability/redact.ts";
import type { Logger } from "../observability/logger.ts";
import { eventsDropped } from "../observability/metrics.ts";

/**
 * Events waiting for the API server or in flight, at most. Beyond it new ones are dropped and
 * counted, as client-go's broadcaster drops beyond its queue of 1,000: an API server that falls
 * behind (ten thousand Repositories turning Ready at once) must not grow the operator's memory.
 */
export const MAX_PENDING_EVENTS = 1000;

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
export function makeEventRecorder(kube: Pick<KubeClient, "create">, component: string, log: Logger, maxPending = MAX_PENDING_EVENTS): EventRecorder {
  const host = process.env.HOSTNAME ?? "blobstash";
  let pending = 0;
  let dropping = false;
  return {
    record(obj, type, reason, message) {
      if (pending >= maxPending) {
        eventsDropped.inc();
        if (!dropping) log.warn("events dropped: the API server is behind", { pending });
        dropping = true;
        return;
      }
      dropping = false;
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
      pending++;
      kube
        .create(EVENTS, namespace, body)
        .catch((err: unknown) => {
          log.warn("could not record event", { reason, object: `${namespace}/${obj.metadata.name}`, error: String(err) });
        })
        .finally(() => pending--);
    },
  };
}
