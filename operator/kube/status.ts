import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";
import { isDeepStrictEqual } from "node:util";
import { redactDeep } from "../observability/redact.ts";

export interface CustomResourceRef {
  group: string;
  version: string;
  plural: string;
  namespace: string;
  name: string;
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/**
 * Writes `status` with a JSON merge patch on the status subresource, but only when it differs from
 * `current`: a reconcile that finds nothing new must not write, or every write would trigger the
 * next reconcile. Returns whether it wrote. Secret values are scrubbed before anything leaves.
 */
export async function patchStatusIfChanged(
  kc: KubeConfig,
  ref: CustomResourceRef,
  current: unknown,
  desired: Record<string, unknown>,
): Promise<boolean> {
  const clean = redactDeep(desired);
  if (isDeepStrictEqual(normalize(current), normalize(clean))) return false;
  const api = kc.makeApiClient(CustomObjectsApi);
  await api.patchNamespacedCustomObjectStatus({ ...ref, body: { status: withNulls(current, clean) } }, mergePatch);
  return true;
}

/** JSON round trip drops undefined, so comparison sees what the API server would store. */
function normalize(v: unknown): unknown {
  return v === undefined ? {} : JSON.parse(JSON.stringify(v));
}

/** A merge patch removes a field only when it says null; keys gone from `desired` become null. */
function withNulls(current: unknown, desired: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...desired };
  if (current && typeof current === "object") {
    for (const k of Object.keys(current)) if (!(k in desired) || desired[k] === undefined) out[k] = null;
  }
  return out;
}

export async function mergePatchObject(kc: KubeConfig, ref: CustomResourceRef, body: Record<string, unknown>): Promise<void> {
  const api = kc.makeApiClient(CustomObjectsApi);
  await api.patchNamespacedCustomObject({ ...ref, body }, mergePatch);
}
