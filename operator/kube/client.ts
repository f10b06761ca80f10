import type { KubeConfig } from "@kubernetes/client-node";
import { PooledKubeConfig } from "./pooled-kubeconfig.ts";

/** KUBECONFIG (or ~/.kube/config) when set, the in-cluster ServiceAccount otherwise; connections are pooled. */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new PooledKubeConfig();
  const path = kubeconfigPath ?? process.env.KUBECONFIG;
  if (path) kc.loadFromFile(path);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export interface ObjectKey {
  namespace: string;
  name: string;
}

export function keyOf(obj: { metadata?: { namespace?: string; name?: string } }): string {
  return `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
}

export function parseKey(key: string): ObjectKey {
  const i = key.indexOf("/");
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** HTTP status of an error thrown by client-node 2.x (ApiException carries `code`). */
export function statusCode(err: unknown): number | undefined {
  if (err && typeof err === "object") {
    const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
    for (const c of [e.code, e.statusCode, e.response?.statusCode]) if (typeof c === "number") return c;
  }
  return undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
