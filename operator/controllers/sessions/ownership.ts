// Which objects a session may treat as its own. A tenant can create Jobs, pods and Secrets in its
// namespace, with any name and any label (the job-name label included): names and labels prove
// nothing. What the tenant cannot forge is the UID of the object the API server made for us, so
// adoption goes by the controller ownerReference's UID, and a pod's result counts only if the pod
// runs what the Job's template says.

import type { V1Job, V1OwnerReference, V1Pod } from "@kubernetes/client-node";

interface Owned {
  metadata?: { ownerReferences?: V1OwnerReference[] };
}

/** The UID of the object's controller, if it has one. */
export function controllerUid(obj: Owned): string | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true)?.uid;
}

/** True when `uid` (a session's, a Job's) is the object's controller. */
export function ownedBy(obj: Owned, uid: string | undefined): boolean {
  return uid !== undefined && uid !== "" && controllerUid(obj) === uid;
}

/**
 * The Job's own pods: controlled by its UID and running its template's image, command and args. A
 * pod that claims the Job as its owner but runs something else (the owner reference is as easy to
 * write as a label) is ignored: its termination message is not a result.
 */
export function podsMadeFor(job: V1Job, pods: readonly V1Pod[]): V1Pod[] {
  const want = job.spec?.template?.spec?.containers?.[0];
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  return pods.filter((p) => {
    const c = p.spec?.containers?.[0];
    return ownedBy(p, job.metadata?.uid) && p.spec?.containers?.length === 1 && !!c && !!want && c.image === want.image && same(c.command, want.command) && same(c.args, want.args);
  });
}

/** The refusal for an object of ours whose name a foreign object already has. */
export function nameTaken(kind: string, namespace: string, name: string, holder: Owned): { reason: string; message: string } {
  const owner = holder.metadata?.ownerReferences?.find((r) => r.controller === true);
  const by = owner ? `it belongs to ${owner.kind} ${owner.name}` : "it has no controller";
  return {
    reason: `${kind}NameTaken`,
    message: `${kind} ${namespace}/${name} exists but was not made for this session (${by}), so the operator does not use it: delete it, or run the session under another name`,
  };
}
