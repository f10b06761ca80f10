// What the cluster admin lets tenants make the operator do in Azure: which endpoint suffixes a
// Secret may name, and whether (and for whom) the operator lends its own Azure identity. Tenants
// write Secrets; only the admin writes the operator's flags (the chart's values), so these rules
// live there. Pure: the reconcilers ask before any connection is made.

/** Azure's public and sovereign clouds: always approved. */
export const AZURE_CLOUD_SUFFIXES = ["core.windows.net", "core.chinacloudapi.cn", "core.usgovcloudapi.net"] as const;

export type OperatorIdentityType = "workloadIdentity" | "managedIdentity";

/** One rule of the admin's map: these namespaces may use the operator's identity for this account's containers. "*" matches any. */
export interface IdentityGrant {
  namespaces: string[];
  account: string;
  containers: string[];
}

export interface OperatorIdentity {
  type: OperatorIdentityType;
  /** A user-assigned managed identity's client ID (managedIdentity only). */
  clientId?: string;
  grants: IdentityGrant[];
}

export interface AzureAdminPolicy {
  defaultEndpointSuffix: string;
  /** Lower-case; the clouds, the default and what the admin added. */
  endpointSuffixes: ReadonlySet<string>;
  /** Undefined: Secrets without a credential are refused. */
  operatorIdentity?: OperatorIdentity;
}

export function adminPolicy(o: { defaultEndpointSuffix: string; extraEndpointSuffixes?: readonly string[]; operatorIdentity?: OperatorIdentity }): AzureAdminPolicy {
  const endpointSuffixes = new Set([...AZURE_CLOUD_SUFFIXES, o.defaultEndpointSuffix, ...(o.extraEndpointSuffixes ?? [])].map((s) => s.toLowerCase()));
  return { defaultEndpointSuffix: o.defaultEndpointSuffix, endpointSuffixes, ...(o.operatorIdentity ? { operatorIdentity: o.operatorIdentity } : {}) };
}

/** Why a tenant may not point the operator at this suffix, or undefined. Exact match: a subdomain is another host. */
export function endpointRefusal(policy: AzureAdminPolicy, suffix: string): string | undefined {
  if (policy.endpointSuffixes.has(suffix.toLowerCase())) return undefined;
  return (
    `"${suffix}" is not an endpoint suffix the cluster admin approved (approved: ${[...policy.endpointSuffixes].join(", ")}), so the operator makes no connection to it. ` +
    `Use an approved one, or ask the admin to add it (chart value operator.allowedEndpointSuffixes)`
  );
}

/** Why this use of the operator's own identity is not allowed, or undefined when a grant covers it. */
export function identityRefusal(policy: AzureAdminPolicy, use: { namespace: string; accountName: string; container: string }): string | undefined {
  const id = policy.operatorIdentity;
  const asks = `the Secret holds no credential (only AZURE_ACCOUNT_NAME), which asks for the operator's own Azure identity`;
  if (!id) return `${asks}, and the cluster admin has not enabled it (chart value workloadIdentity.enabled). Put a credential in the Secret: AZURE_ACCOUNT_KEY, AZURE_ACCOUNT_SAS or a service principal`;
  const matches = (list: readonly string[], value: string) => list.includes("*") || list.includes(value);
  const granted = id.grants.some((g) => g.account === use.accountName && matches(g.namespaces, use.namespace) && matches(g.containers, use.container));
  if (granted) return undefined;
  return `${asks}, and no grant in the admin's map (chart value workloadIdentity.grants) lets namespace ${use.namespace} use account ${use.accountName}, container ${use.container}. Ask the admin for a grant, or put a credential in the Secret`;
}

/** identityRefusal for credentials that ask for the operator's identity; undefined for any that bring their own. */
export function operatorIdentityRefusal(policy: AzureAdminPolicy, credentials: { mode: string; accountName: string }, namespace: string, container: string): string | undefined {
  return credentials.mode === "workloadIdentity" ? identityRefusal(policy, { namespace, accountName: credentials.accountName, container }) : undefined;
}

/** The admin's grants as JSON (a flag or environment variable the chart renders). */
export function parseIdentityGrants(text: string): { ok: true; grants: IdentityGrant[] } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON (${(err as Error).message})` };
  }
  if (!Array.isArray(value)) return { ok: false, error: "must be a JSON array of {namespaces, account, containers}" };
  const grants: IdentityGrant[] = [];
  for (const [i, g] of value.entries()) {
    const at = `grant ${i}`;
    if (typeof g !== "object" || g === null) return { ok: false, error: `${at} is not an object` };
    const { namespaces, account, containers } = g as Record<string, unknown>;
    const names = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === "string" && s !== "");
    if (typeof account !== "string" || !/^[a-z0-9]{3,24}$/.test(account)) return { ok: false, error: `${at}: account must be a storage account name` };
    if (!names(namespaces)) return { ok: false, error: `${at}: namespaces must be a non-empty list of names (or "*")` };
    if (!names(containers)) return { ok: false, error: `${at}: containers must be a non-empty list of names (or "*")` };
    grants.push({ namespaces: namespaces as string[], account, containers: containers as string[] });
  }
  return { ok: true, grants };
}
