// Stash's Repository.spec.usagePolicy: which namespaces may back up into or restore from a
// Repository. Default (no policy) is the Repository's own namespace only.

import type { Repository } from "../../api/repository.ts";

export type NamespaceLabels = Record<string, string>;

interface Requirement {
  key: string;
  operator: string;
  values?: string[];
}

function matches(labels: NamespaceLabels, req: Requirement): boolean {
  const has = Object.hasOwn(labels, req.key);
  const value = labels[req.key];
  switch (req.operator) {
    case "In":
      return has && (req.values ?? []).includes(value!);
    case "NotIn":
      return !has || !(req.values ?? []).includes(value!);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    default:
      return false;
  }
}

/**
 * Whether a session in `namespace` may use the Repository. Returns a message naming the policy when
 * it may not. `labels` are the session namespace's labels (needed only for `from: Selector`).
 */
export function usageRefusal(repository: Repository, namespace: string, labels: NamespaceLabels | undefined): string | undefined {
  const repoNs = repository.metadata?.namespace ?? "";
  if (namespace === repoNs) return undefined;
  const allowed = repository.spec?.usagePolicy?.allowedNamespaces;
  const from = allowed?.from ?? "Same";
  const name = `Repository ${repoNs}/${repository.metadata?.name}`;
  if (from === "All") return undefined;
  if (from === "Same") return `${name} allows only its own namespace (spec.usagePolicy.allowedNamespaces.from: Same); set it to All or Selector to use it from ${namespace}`;
  const selector = allowed?.selector ?? {};
  const l = labels ?? {};
  const okLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => l[k] === v);
  const okExpr = (selector.matchExpressions ?? []).every((r) => matches(l, r));
  return okLabels && okExpr ? undefined : `namespace ${namespace} does not match ${name}'s spec.usagePolicy.allowedNamespaces.selector`;
}
