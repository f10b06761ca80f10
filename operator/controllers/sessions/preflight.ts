// Checks a session makes before it may start a Job: the Repository exists, allows this namespace
// and is Ready; the target PVC exists. Fails early with the specific reason rather than letting a
// Job find out.

import { findCondition } from "../../api/conditions.ts";
import type { ObjectRef, TargetRef } from "../../api/backup.ts";
import { PVC_KIND } from "../../api/backup.ts";
import type { Repository } from "../../api/repository.ts";
import type { SessionRuntime } from "./runtime.ts";
import { usageRefusal } from "./usage-policy.ts";
import { statusCode } from "../../kube/client.ts";

/** Repository Ready=False reasons that say Azure or the network failed, not the Repository's settings. */
export const TRANSIENT_REASONS: ReadonlySet<string> = new Set(["EndpointUnreachable", "BackendError"]);

export type Preflight =
  | { kind: "ok"; repository: Repository }
  /** `blocker`: the Repository's Ready reason when it has one (Unknown), which a session that gives up fails with. */
  | { kind: "wait"; reason: string; message: string; repositoryName?: string; blocker?: { reason: string; message: string } }
  | { kind: "fail"; reason: string; message: string };

export async function checkRepository(
  rt: SessionRuntime,
  namespace: string,
  ref: ObjectRef | undefined,
  target: TargetRef | undefined,
): Promise<Preflight> {
  if (!ref?.name) return { kind: "fail", reason: "RepositoryMissing", message: "spec.repository.name must name a Repository" };
  const repoNs = ref.namespace || namespace;
  let repository: Repository | undefined;
  try {
    repository = await rt.getRepository(repoNs, ref.name);
  } catch (err) {
    if (statusCode(err) !== 403) throw err;
    return {
      kind: "fail",
      reason: "RepositoryNotVisible",
      message: `the operator may not read Repositories in namespace ${repoNs} (it watches only the namespaces it was installed for): use a Repository in a watched namespace`,
    };
  }
  if (!repository) return { kind: "fail", reason: "RepositoryNotFound", message: `Repository ${repoNs}/${ref.name} does not exist` };
  if (!repository.spec?.backend?.azure) {
    return { kind: "fail", reason: "Unsupported", message: `Repository ${repoNs}/${ref.name} has no azure backend; blobstash runs Azure repositories only` };
  }
  if (repoNs !== namespace) {
    const refusal = usageRefusal(repository, namespace, await rt.namespaceLabels(namespace));
    if (refusal) return { kind: "fail", ...refusal };
  }
  const ready = findCondition(repository.status?.conditions, "Ready");
  // An outage of Azure or of the path to it (the fault matrix: Azurite down, 503/500 for a while) is
  // waited out within the repository wait limit, as restic waits it out inside a running Job; a
  // queued session failing on it would lose a backup to a blip.
  if (!ready || ready.status === "Unknown" || (ready.status === "False" && TRANSIENT_REASONS.has(ready.reason))) {
    const why = ready ? ` (${ready.reason}: ${ready.message})` : "";
    return {
      kind: "wait",
      reason: "WaitingForRepository",
      message: `Repository ${repoNs}/${ref.name} ${ready?.status === "False" ? "is unreachable for now" : "has not been validated yet"}${why}`,
      repositoryName: ref.name,
      ...(ready ? { blocker: { reason: ready.reason, message: ready.message } } : {}),
    };
  }
  if (ready.status !== "True") {
    return { kind: "fail", reason: ready.reason, message: `Repository ${repoNs}/${ref.name} is not ready: ${ready.message}` };
  }
  if (target) {
    if (target.kind !== PVC_KIND) return { kind: "fail", reason: "Unsupported", message: `target kind ${target.kind} is not supported; use a PersistentVolumeClaim` };
    // A claim in another namespace is refused by the Job builder (a Pod mounts only its own namespace's).
    if ((!target.namespace || target.namespace === namespace) && !(await rt.pvcExists(namespace, target.name))) {
      return { kind: "fail", reason: "TargetNotFound", message: `PersistentVolumeClaim ${namespace}/${target.name} does not exist` };
    }
  }
  return { kind: "ok", repository };
}
