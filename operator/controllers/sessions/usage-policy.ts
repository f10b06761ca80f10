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

export interface Refusal {
  /** RepositoryNotAllowed, or UsagePolicyInvalid when the selector itself is broken. */
  reason: string;
  message: string;
}

type Selector = NonNullable<NonNullable<NonNullable<Repository["spec"]>["usagePolicy"]>["allowedNamespaces"]>["selector"];

/** Label names and values as Kubernetes validates them (apimachinery's IsQualifiedName, IsValidLabelValue). */
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return `key "${key}" has a prefix that is no DNS subdomain`;
  if (name.length > 63 || !NAME.test(name)) return `key "${key}" is no label name (at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit)`;
  return undefined;
}

function labelValueProblem(key: string, value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63 || !NAME.test(value)) return `value "${value}" of key "${key}" is no label value (at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit)`;
  return undefined;
}

/** What makes a label selector invalid, as the API server would say for a Deployment's selector. */
export function selectorProblem(selector: Selector): string | undefined {
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) {
    const p = labelKeyProblem(k) ?? labelValueProblem(k, String(v));
    if (p) return `matchLabels: ${p}`;
  }
  for (const [i, r] of (selector?.matchExpressions ?? []).entries()) {
    const at = `matchExpressions[${i}]`;
    const p = labelKeyProblem(r.key);
    if (p) return `${at}: ${p}`;
    const values = r.values ?? [];
    if ((r.operator === "In" || r.operator === "NotIn") && values.length === 0) return `${at}: operator ${r.operator} needs at least one value`;
    if ((r.operator === "Exists" || r.operator === "DoesNotExist") && values.length > 0) return `${at}: operator ${r.operator} takes no values`;
    if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(r.operator)) return `${at}: operator "${r.operator}" is not In, NotIn, Exists or DoesNotExist`;
    for (const v of values) {
      const vp = labelValueProblem(r.key, v);
      if (vp) return `${at}: ${vp}`;
    }
  }
  return undefined;
}

/**
 * Whether a session in `namespace` may use the Repository. Returns the refusal, naming the policy,
 * when it may not. `labels` are the session namespace's labels (needed only for `from: Selector`);
 * undefined when they could not be read, and then a selector allows nothing: NotIn and
 * DoesNotExist would match an empty label set, so guessing would open the Repository to anyone.
 */
export function usageRefusal(repository: Repository, namespace: string, labels: NamespaceLabels | undefined): Refusal | undefined {
  const repoNs = repository.metadata?.namespace ?? "";
  if (namespace === repoNs) return undefined;
  const allowed = repository.spec?.usagePolicy?.allowedNamespaces;
  const from = allowed?.from ?? "Same";
  const name = `Repository ${repoNs}/${repository.metadata?.name}`;
  const refuse = (message: string): Refusal => ({ reason: "RepositoryNotAllowed", message });
  if (from === "All") return undefined;
  if (from === "Same") return refuse(`${name} allows only its own namespace (spec.usagePolicy.allowedNamespaces.from: Same); set it to All or Selector to use it from ${namespace}`);
  const selector = allowed?.selector ?? {};
  const invalid = selectorProblem(selector);
  if (invalid) {
    return { reason: "UsagePolicyInvalid", message: `${name}'s spec.usagePolicy.allowedNamespaces.selector is invalid (${invalid}), so it allows no other namespace: fix the selector` };
  }
  if (labels === undefined) {
    return {
      reason: "NamespaceLabelsUnreadable",
      message:
        `${name} allows namespaces by a selector, but the operator cannot read namespace ${namespace}'s labels (it may not get namespaces, as when it watches only some namespaces), ` +
        `so it does not guess: the Repository is refused. Use from: All, or let the operator get namespaces (cluster-wide install)`,
    };
  }
  const l = labels;
  const okLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => l[k] === v);
  const okExpr = (selector.matchExpressions ?? []).every((r) => matches(l, r));
  return okLabels && okExpr ? undefined : refuse(`namespace ${namespace} does not match ${name}'s spec.usagePolicy.allowedNamespaces.selector`);
}
