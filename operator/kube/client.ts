import { KubeClient } from "./api-client.ts";
import { connect } from "./connection.ts";
import { loadClusterAccess } from "./kubeconfig.ts";

/** A client for the kubeconfig file(s) given, or KUBECONFIG, when set; the in-cluster ServiceAccount otherwise. */
export function connectKube(kubeconfig?: string): KubeClient {
  return new KubeClient(connect(loadClusterAccess(kubeconfig)));
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

/** HTTP status of a failed API call (KubeApiError and client-node's ApiException both carry `code`). */
export function statusCode(err: unknown): number | undefined {
  if (err && typeof err === "object") {
    const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
    for (const c of [e.code, e.statusCode, e.response?.statusCode]) if (typeof c === "number") return c;
  }
  return undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
