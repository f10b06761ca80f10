import { isDeepStrictEqual } from "node:util";
import { redactDeep, secretsFor } from "../observability/redact.ts";
import type { KubeClient } from "./api-client.ts";

export interface CustomResourceRef {
  group: string;
  version: string;
  plural: string;
  namespace: string;
  name: string;
}

/**
 * Writes the fields of `desired` into status with a JSON merge patch on the status subresource, but
 * only when one of them differs from `current`: a reconcile that finds nothing new must not write,
 * or every write would trigger the next reconcile. Fields absent from `desired` belong to someone
 * else (the Repository controller owns conditions, the session controllers own backup figures) and
 * are left alone; a field set to `undefined` is removed. Returns whether it wrote. Secret values of
 * the object's namespace (and the global ones) are scrubbed before anything leaves.
 */
export async function patchStatusIfChanged(
  kube: KubeClient,
  ref: CustomResourceRef,
  current: unknown,
  desired: Record<string, unknown>,
): Promise<boolean> {
  const clean = redactDeep(desired, secretsFor(ref.namespace));
  const existing = (current && typeof current === "object" ? current : {}) as Record<string, unknown>;
  const changed = Object.keys(clean).some((k) => !isDeepStrictEqual(normalize(existing[k]), normalize(clean[k])));
  if (!changed) return false;
  await kube.mergePatch(ref, ref.namespace, ref.name, { status: withNulls(clean) }, "status");
  return true;
}

/** JSON round trip drops undefined, so comparison sees what the API server would store. */
function normalize(v: unknown): unknown {
  return v === undefined ? null : JSON.parse(JSON.stringify(v));
}

/** A merge patch removes a field only when it says null. */
function withNulls(desired: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(desired)) out[k] = v === undefined ? null : v;
  return out;
}

export async function mergePatchObject(kube: KubeClient, ref: CustomResourceRef, body: Record<string, unknown>): Promise<void> {
  await kube.mergePatch(ref, ref.namespace, ref.name, body);
}
