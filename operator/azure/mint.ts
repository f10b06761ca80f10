// Short-lived, container-scoped SAS tokens for Job pods, so no pod ever holds an account key or a
// client secret (DESIGN.md, "Credentials"). Account keys sign a service SAS; service principals and
// workload identity get a user delegation key from Azure and sign a user delegation SAS with it.

import {
  ContainerSASPermissions,
  SASProtocol,
  StorageSharedKeyCredential,
  type UserDelegationKey,
  generateBlobSASQueryParameters,
} from "@azure/storage-blob";
import type { AzureClient } from "./clients.ts";

export interface MintOptions {
  container: string;
  /** SAS permission letters, e.g. BACKUP_PERMISSIONS ("racwdl") or RESTORE_PERMISSIONS ("rl"). */
  permissions: string;
  expiresOn: Date;
  /** Defaults to five minutes before `now`, to absorb clock skew between us and Azure. */
  startsOn?: Date;
  /** Signed version; Azurite accepts user delegation SAS only up to the versions it knows. */
  version?: string;
  /** Restrict to HTTPS (default). restic only speaks HTTPS to Azure anyway. */
  httpsOnly?: boolean;
  now?: Date;
}

export interface MintedSas {
  /** Query string without "?", as restic's AZURE_ACCOUNT_SAS expects it. */
  token: string;
  expiresOn: Date;
  /** "service": signed with the account key; "userDelegation": via Azure AD; "provided": the Secret's own SAS. */
  kind: "service" | "userDelegation" | "provided";
}

const SKEW_MS = 5 * 60_000;

function signedValues(o: MintOptions) {
  const now = o.now ?? new Date();
  return {
    containerName: o.container,
    permissions: ContainerSASPermissions.parse(o.permissions),
    startsOn: o.startsOn ?? new Date(now.getTime() - SKEW_MS),
    expiresOn: o.expiresOn,
    protocol: o.httpsOnly === false ? SASProtocol.HttpsAndHttp : SASProtocol.Https,
    ...(o.version ? { version: o.version } : {}),
  };
}

/** A container-scoped service SAS signed with the account key (pure: no request to Azure). */
export function mintContainerSas(account: { accountName: string; accountKey: string }, options: MintOptions): MintedSas {
  const key = new StorageSharedKeyCredential(account.accountName, account.accountKey);
  const token = generateBlobSASQueryParameters(signedValues(options), key).toString();
  return { token, expiresOn: options.expiresOn, kind: "service" };
}

/** A user delegation SAS signed with a key Azure issues to the client's AAD identity. */
export async function mintUserDelegationSas(client: AzureClient, options: MintOptions, keys = defaultKeyCache): Promise<MintedSas> {
  const key = await keys.get(client, options.expiresOn, options.now ?? new Date());
  const token = generateBlobSASQueryParameters(signedValues(options), key, client.credentials.accountName).toString();
  return { token, expiresOn: options.expiresOn, kind: "userDelegation" };
}

/**
 * The SAS a Job gets for this credential: minted for account keys and AAD identities; the Secret's
 * own SAS in SAS mode (it cannot be narrowed; its expiry is reported as is).
 */
export async function sasForJob(client: AzureClient, options: MintOptions): Promise<MintedSas> {
  const c = client.credentials;
  switch (c.mode) {
    case "accountKey":
      return mintContainerSas({ accountName: c.accountName, accountKey: c.accountKey }, options);
    case "sas":
      return { token: c.sas.token, expiresOn: c.sas.expiresOn, kind: "provided" };
    case "servicePrincipal":
    case "workloadIdentity":
      return mintUserDelegationSas(client, options);
  }
}

/** Azure allows user delegation keys up to seven days ahead. */
const MAX_DELEGATION_MS = 7 * 24 * 3600_000;
const DELEGATION_KEY_LIFETIME_MS = 2 * 24 * 3600_000;

/**
 * User delegation keys are reused while they cover the SAS expiry asked for: one request to Azure
 * per identity and account every day or two, not one per Job.
 */
export class UserDelegationKeyCache {
  private readonly keys = new Map<string, { key: UserDelegationKey; expiresOn: Date }>();

  async get(client: AzureClient, sasExpiresOn: Date, now: Date): Promise<UserDelegationKey> {
    const id = client.serviceUrl + "|" + (client.credentials.mode === "servicePrincipal" ? `${client.credentials.tenantId}/${client.credentials.clientId}` : "workload");
    const hit = this.keys.get(id);
    if (hit && hit.expiresOn.getTime() >= sasExpiresOn.getTime()) return hit.key;
    if (sasExpiresOn.getTime() - now.getTime() > MAX_DELEGATION_MS) {
      throw new Error("a user delegation SAS cannot outlive seven days; shorten the Job's timeOut");
    }
    const expiresOn = new Date(Math.min(now.getTime() + MAX_DELEGATION_MS - SKEW_MS, Math.max(sasExpiresOn.getTime(), now.getTime() + DELEGATION_KEY_LIFETIME_MS)));
    const res = await client.service.getUserDelegationKey(new Date(now.getTime() - SKEW_MS), expiresOn);
    const key: UserDelegationKey = {
      signedObjectId: res.signedObjectId,
      signedTenantId: res.signedTenantId,
      signedStartsOn: res.signedStartsOn,
      signedExpiresOn: res.signedExpiresOn,
      signedService: res.signedService,
      signedVersion: res.signedVersion,
      value: res.value,
    };
    this.keys.set(id, { key, expiresOn });
    return key;
  }
}

const defaultKeyCache = new UserDelegationKeyCache();
