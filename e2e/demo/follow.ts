// Following Repositories and sessions until they get where a flow needs them: one line per change
// (not per poll), so the demo, the kind flow and the tests show phase changes as they happen.
import { ApiException, type CustomObjectsApi } from "@kubernetes/client-node";
import type { Condition } from "../../operator/api/conditions.ts";

export type TrackedKind = "Repository" | "BackupSession" | "RestoreSession";

export interface Tracked {
  kind: TrackedKind;
  name: string;
}

interface Watchable {
  metadata?: { name?: string };
  status?: { phase?: string; conditions?: Condition[] };
}

const API: Record<TrackedKind, { group: string; version: string; plural: string }> = {
  Repository: { group: "stash.appscode.com", version: "v1alpha1", plural: "repositories" },
  BackupSession: { group: "stash.appscode.com", version: "v1beta1", plural: "backupsessions" },
  RestoreSession: { group: "stash.appscode.com", version: "v1beta1", plural: "restoresessions" },
};

/** Where an object stands, in one line: what is printed whenever it changes. */
export function stateOf(kind: TrackedKind, obj: Watchable | undefined): string {
  if (!obj) return "not found";
  const conditions = obj.status?.conditions ?? [];
  if (kind === "Repository") {
    const ready = conditions.find((c) => c.type === "Ready");
    if (!ready) return "waiting for the operator's first check";
    const detail = ready.status === "True" && ready.reason === "Ready" ? "" : ` — ${ready.message}`;
    return `Ready=${ready.status} (${ready.reason})${detail}`;
  }
  const phase = obj.status?.phase;
  if (!phase) return "created, no phase yet";
  const completed = conditions.find((c) => c.type === "Completed");
  return completed ? `${phase} (${completed.reason}: ${completed.message})` : phase;
}

/** A session's end: "Succeeded", the reason and message it failed with, or undefined while it runs. */
export function sessionEnd(obj: Watchable | undefined): { succeeded: true } | { succeeded: false; why: string } | undefined {
  const phase = obj?.status?.phase;
  if (phase === "Succeeded") return { succeeded: true };
  if (phase === "Failed") {
    const c = obj?.status?.conditions?.find((x) => x.type === "Completed");
    return { succeeded: false, why: c ? `${c.reason}: ${c.message}` : "no reason given" };
  }
  return undefined;
}

export async function getTracked(custom: CustomObjectsApi, namespace: string, t: Tracked): Promise<Watchable | undefined> {
  try {
    return (await custom.getNamespacedCustomObject({ ...API[t.kind], namespace, name: t.name })) as Watchable;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

export interface FollowOptions {
  /** Done (true), failed (a string saying why), or keep going (false/undefined). */
  until: (objects: Map<string, Watchable | undefined>) => boolean | string | undefined;
  timeoutMs: number;
  /** Gets one line per change; default: nothing printed. */
  print?: (line: string) => void;
  intervalMs?: number;
}

export const trackedKey = (t: Tracked) => `${t.kind}/${t.name}`;

/** Polls the tracked objects in namespace, reporting each change of state, until `until` decides. */
export async function follow(custom: CustomObjectsApi, namespace: string, tracked: readonly Tracked[], o: FollowOptions): Promise<Map<string, Watchable | undefined>> {
  const last = new Map<string, string>();
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const objects = new Map<string, Watchable | undefined>();
    for (const t of tracked) {
      const obj = await getTracked(custom, namespace, t);
      objects.set(trackedKey(t), obj);
      const state = stateOf(t.kind, obj);
      if (last.get(trackedKey(t)) !== state) {
        last.set(trackedKey(t), state);
        o.print?.(`${trackedKey(t)}: ${state}`);
      }
    }
    const verdict = o.until(objects);
    if (verdict === true) return objects;
    if (typeof verdict === "string") throw new Error(verdict);
    if (Date.now() >= deadline) {
      const states = tracked.map((t) => `${trackedKey(t)}: ${last.get(trackedKey(t))}`).join("; ");
      throw new Error(`timed out after ${Math.round(o.timeoutMs / 1000)} s; last seen: ${states}`);
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 250));
  }
}

/** `until` for follow(): the named session succeeded; its failure ends the wait with the reason. */
export function sessionSucceeded(t: Tracked): FollowOptions["until"] {
  return (objects) => {
    const end = sessionEnd(objects.get(trackedKey(t)));
    if (!end) return undefined;
    return end.succeeded ? true : `${trackedKey(t)} failed — ${end.why}`;
  };
}
