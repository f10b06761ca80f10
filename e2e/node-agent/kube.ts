// The few API calls the node agent makes, in one place, with the content types client-node 2.x
// does not pick by itself (its patch methods default to JSON-patch; the agent sends merge patches).
import {
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  VersionApi,
  setHeaderOptions,
  type V1Lease,
  type V1Node,
  type V1Pod,
} from "@kubernetes/client-node";
import type { BinaryData } from "./volumes.ts";

/** The HTTP status of a client-node error, if it carries one. */
export function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === "number") return e.code;
  if (typeof e?.statusCode === "number") return e.statusCode;
  return undefined;
}

/** A short description of an error that never includes a response body (bodies may echo secrets). */
export function describeError(err: unknown): string {
  const code = statusCode(err);
  const msg = err instanceof Error ? err.message.split("\n")[0] : String(err);
  return code ? `HTTP ${code}` : (msg ?? "error").slice(0, 300);
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

function decode(data: Record<string, string> | undefined, encoding: "base64" | "utf8"): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(data ?? {})) out[k] = Buffer.from(v, encoding);
  return out;
}

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (statusCode(err) === 404) return null;
    throw err;
  }
}

export class Kube {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly version: VersionApi;

  constructor(kubeconfigPath: string) {
    this.kc = new KubeConfig();
    this.kc.loadFromFile(kubeconfigPath);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.coordination = this.kc.makeApiClient(CoordinationV1Api);
    this.version = this.kc.makeApiClient(VersionApi);
  }

  async listPods(): Promise<{ items: V1Pod[]; resourceVersion: string }> {
    const list = await this.core.listPodForAllNamespaces();
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  async secret(namespace: string, name: string): Promise<BinaryData> {
    const s = await orNull(this.core.readNamespacedSecret({ name, namespace }));
    return s ? decode(s.data, "base64") : null;
  }

  async configMap(namespace: string, name: string): Promise<BinaryData> {
    const c = await orNull(this.core.readNamespacedConfigMap({ name, namespace }));
    return c ? { ...decode(c.binaryData, "base64"), ...decode(c.data, "utf8") } : null;
  }

  async pvcExists(namespace: string, name: string): Promise<boolean> {
    return (await orNull(this.core.readNamespacedPersistentVolumeClaim({ name, namespace }))) !== null;
  }

  async serviceAccountToken(pod: V1Pod, audiences: string[], expirationSeconds: number): Promise<string> {
    const tr = await this.core.createNamespacedServiceAccountToken({
      name: pod.spec?.serviceAccountName || "default",
      namespace: pod.metadata?.namespace ?? "",
      body: {
        spec: {
          audiences,
          expirationSeconds,
          boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.metadata?.name, uid: pod.metadata?.uid },
        },
      },
    });
    return tr.status?.token ?? "";
  }

  async bindPod(pod: V1Pod, nodeName: string): Promise<void> {
    const namespace = pod.metadata?.namespace ?? "";
    const name = pod.metadata?.name ?? "";
    await this.core.createNamespacedPodBinding({
      name,
      namespace,
      body: {
        metadata: { name, namespace, uid: pod.metadata?.uid },
        target: { apiVersion: "v1", kind: "Node", name: nodeName },
      },
    });
  }

  async patchPodStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<V1Pod> {
    return this.core.patchNamespacedPodStatus({ name, namespace, body: { status } }, mergePatch);
  }

  /** kubelet's final step of a graceful deletion: remove the object now that its containers are gone. */
  async deletePodNow(namespace: string, name: string, uid: string): Promise<void> {
    await orNull(
      this.core.deleteNamespacedPod({
        name,
        namespace,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      }),
    );
  }

  async serverVersion(): Promise<string> {
    return (await this.version.getCode()).gitVersion;
  }

  async readNode(name: string): Promise<V1Node | null> {
    return orNull(this.core.readNode({ name }));
  }

  async createNode(node: V1Node): Promise<V1Node> {
    return this.core.createNode({ body: node });
  }

  async patchNode(name: string, patch: object): Promise<V1Node> {
    return this.core.patchNode({ name, body: patch }, mergePatch);
  }

  async patchNodeStatus(name: string, status: object): Promise<V1Node> {
    return this.core.patchNodeStatus({ name, body: { status } }, mergePatch);
  }

  async readLease(namespace: string, name: string): Promise<V1Lease | null> {
    return orNull(this.coordination.readNamespacedLease({ name, namespace }));
  }

  async createLease(namespace: string, lease: V1Lease): Promise<V1Lease> {
    return this.coordination.createNamespacedLease({ namespace, body: lease });
  }

  async patchLease(namespace: string, name: string, patch: object): Promise<V1Lease> {
    return this.coordination.patchNamespacedLease({ name, namespace, body: patch }, mergePatch);
  }
}
