// The permissions a run needed, read from the API server's audit log, against the permissions the
// chart grants: a grant no request of the operator used is one a compromised operator would have
// for nothing. Pure functions over audit events (JSON lines) and rendered manifests.

/** `group/resource[/subresource]:verb`, the core group as "". */
export type Permission = string;

export const permission = (group: string, resource: string, verb: string): Permission => `${group}/${resource}:${verb}`;

/** What Kubernetes' own system:basic-user role grants every authenticated user (the operator says who it is at start). */
export const GRANTED_TO_EVERYONE: readonly Permission[] = [
  permission("authentication.k8s.io", "selfsubjectreviews", "create"),
  permission("authorization.k8s.io", "selfsubjectaccessreviews", "create"),
  permission("authorization.k8s.io", "selfsubjectrulesreviews", "create"),
];

interface AuditEvent {
  stage?: string;
  verb?: string;
  user?: { username?: string };
  impersonatedUser?: { username?: string };
  userAgent?: string;
  objectRef?: { apiGroup?: string; resource?: string; subresource?: string };
  responseStatus?: { code?: number };
  requestObject?: { metadata?: { ownerReferences?: Array<{ apiVersion?: string; kind?: string; blockOwnerDeletion?: boolean }> } };
}

export interface Usage {
  /** Permission → requests that used it (allowed). */
  used: Map<Permission, number>;
  /** Permission → requests refused with 403. */
  denied: Map<Permission, number>;
}

/** The plural resource of a kind, for the kinds whose objects the operator owns others by. */
export function pluralOf(kind: string): string {
  const k = kind.toLowerCase();
  return k.endsWith("y") ? `${k.slice(0, -1)}ies` : `${k}s`;
}

/**
 * What the requests of the matched users used. A create that sets an owner reference with
 * blockOwnerDeletion also uses `update` on the owner's `finalizers` (what
 * OwnerReferencesPermissionEnforcement checks), though no request of its own shows it.
 */
export function usageOf(lines: Iterable<string>, isOperator: (username: string, userAgent: string) => boolean): Usage {
  const used = new Map<Permission, number>();
  const denied = new Map<Permission, number>();
  const count = (m: Map<Permission, number>, p: Permission) => m.set(p, (m.get(p) ?? 0) + 1);
  for (const line of lines) {
    if (!line.trim()) continue;
    let e: AuditEvent;
    try {
      e = JSON.parse(line) as AuditEvent;
    } catch {
      continue;
    }
    // A request has one ResponseComplete event (a watch also one ResponseStarted, a panic only Panic).
    if (e.stage !== "ResponseComplete" || !e.objectRef?.resource || !e.verb) continue;
    // Impersonated requests (a test acting as a ServiceAccount) are the test's, not the operator's.
    if (e.impersonatedUser || !isOperator(e.user?.username ?? "", e.userAgent ?? "")) continue;
    const ref = e.objectRef;
    const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource!;
    const p = permission(ref.apiGroup ?? "", resource, e.verb);
    if (e.responseStatus?.code === 403) {
      count(denied, p);
      continue;
    }
    count(used, p);
    if (e.verb !== "create") continue;
    for (const o of e.requestObject?.metadata?.ownerReferences ?? []) {
      if (!o.blockOwnerDeletion || !o.kind || !o.apiVersion) continue;
      const group = o.apiVersion.includes("/") ? o.apiVersion.slice(0, o.apiVersion.indexOf("/")) : "";
      count(used, permission(group, `${pluralOf(o.kind)}/finalizers`, "update"));
    }
  }
  return { used, denied };
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}
interface Manifest {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: Array<{ apiGroups?: string[]; resources?: string[]; verbs?: string[]; nonResourceURLs?: string[] }>;
  roleRef?: { kind?: string; name?: string };
  subjects?: Subject[];
}

/** Permission → the roles granting it, for the ServiceAccount, from rendered manifests. */
export function grantsOf(manifests: readonly Manifest[], serviceAccount: { name: string; namespace: string }): Map<Permission, string[]> {
  const out = new Map<Permission, string[]>();
  const roles = new Map<string, Manifest>();
  for (const m of manifests) if (m.kind === "Role" || m.kind === "ClusterRole") roles.set(`${m.kind}/${m.metadata?.namespace ?? ""}/${m.metadata?.name}`, m);
  for (const b of manifests) {
    if (b.kind !== "RoleBinding" && b.kind !== "ClusterRoleBinding") continue;
    if (!b.subjects?.some((s) => s.kind === "ServiceAccount" && s.name === serviceAccount.name && s.namespace === serviceAccount.namespace)) continue;
    const ns = b.roleRef?.kind === "Role" ? (b.metadata?.namespace ?? "") : "";
    const roleName = `${b.roleRef?.kind}/${ns}/${b.roleRef?.name}`;
    const role = roles.get(roleName);
    if (!role) throw new Error(`${b.kind} ${b.metadata?.name} refers to ${roleName}, which the chart does not render`);
    for (const rule of role.rules ?? []) {
      if (rule.nonResourceURLs?.length) throw new Error(`${roleName} grants non-resource URLs ${rule.nonResourceURLs.join(", ")}`);
      for (const g of rule.apiGroups ?? []) {
        for (const r of rule.resources ?? []) {
          for (const v of rule.verbs ?? []) {
            const p = permission(g, r, v);
            const by = out.get(p) ?? [];
            if (!by.includes(`${role.kind} ${role.metadata?.name}`)) by.push(`${role.kind} ${role.metadata?.name}`);
            out.set(p, by);
          }
        }
      }
    }
  }
  return out;
}
