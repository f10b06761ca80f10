// One BlobServiceClient (and one token credential, with its token cache) per distinct credential,
// shared by every Repository whose Secret holds the same values: a thousand Repositories on one
// Secret cost one client. Keyed by a hash, so the cache holds no secret as a key.

import { createHash } from "node:crypto";
import { AnonymousCredential, BlobServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob";
import type * as IdentityModule from "@azure/identity";
import type { TokenCredential } from "@azure/identity";
import type { OperatorIdentity } from "./admin-policy.ts";
import type { AzureCredentials } from "./credentials.ts";
import { blobServiceUrl } from "./endpoint.ts";
import { agentFor } from "./proxy-agent.ts";

export interface AzureClient {
  credentials: AzureCredentials;
  serviceUrl: string;
  service: BlobServiceClient;
  /** Set for service principal and workload identity: mints user delegation keys. */
  tokenCredential?: TokenCredential;
  /** Set for account keys: signs service SAS tokens. */
  sharedKey?: StorageSharedKeyCredential;
}

// Probes must answer within seconds: a dead endpoint is reported, not waited out.
export const PROBE_PIPELINE_OPTIONS: StoragePipelineOptions = {
  retryOptions: { maxTries: 2, tryTimeoutInMs: 10_000, retryDelayInMs: 200, maxRetryDelayInMs: 1_000 },
  userAgentOptions: { userAgentPrefix: "blobstash" },
};

export function credentialFingerprint(c: AzureCredentials): string {
  const material: string[] = [c.mode, c.accountName, c.endpointSuffix];
  if (c.mode === "accountKey") material.push(c.accountKey);
  if (c.mode === "sas") material.push(c.sas.token);
  if (c.mode === "servicePrincipal") material.push(c.tenantId, c.clientId, c.clientSecret);
  return createHash("sha256").update(JSON.stringify(material)).digest("hex");
}

export class AzureClientCache {
  private readonly entries = new Map<string, AzureClient>();
  private workloadIdentity: TokenCredential | undefined;
  private readonly maxEntries: number;
  private readonly pipelineOptions: StoragePipelineOptions;
  private readonly operatorIdentity: OperatorIdentity | undefined;

  constructor(options: { maxEntries?: number; pipelineOptions?: StoragePipelineOptions; operatorIdentity?: OperatorIdentity } = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
    this.pipelineOptions = options.pipelineOptions ?? PROBE_PIPELINE_OPTIONS;
    this.operatorIdentity = options.operatorIdentity;
  }

  get size(): number {
    return this.entries.size;
  }

  get(credentials: AzureCredentials): AzureClient {
    const key = credentialFingerprint(credentials);
    const hit = this.entries.get(key);
    if (hit) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const client = this.create(credentials);
    this.entries.set(key, client);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return client;
  }

  private create(c: AzureCredentials): AzureClient {
    const serviceUrl = blobServiceUrl(c.accountName, c.endpointSuffix);
    // `agent` is not in StoragePipelineOptions' type, but the SDK's pipeline honours it (agentPolicy),
    // and its proxy policy leaves requests that carry one alone: proxy-agent.ts decides for both.
    const opts = { ...this.pipelineOptions, agent: agentFor(serviceUrl) } as StoragePipelineOptions;
    switch (c.mode) {
      case "accountKey": {
        const sharedKey = new StorageSharedKeyCredential(c.accountName, c.accountKey);
        return { credentials: c, serviceUrl, service: new BlobServiceClient(serviceUrl, sharedKey, opts), sharedKey };
      }
      case "sas":
        return { credentials: c, serviceUrl, service: new BlobServiceClient(`${serviceUrl}?${c.sas.token}`, new AnonymousCredential(), opts) };
      case "servicePrincipal": {
        const tokenCredential = lazyTokenCredential((id) => new id.ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret));
        return { credentials: c, serviceUrl, service: new BlobServiceClient(serviceUrl, tokenCredential, opts), tokenCredential };
      }
      case "workloadIdentity": {
        // The operator's own identity: one credential for the process, whatever the account. Exactly
        // the type the admin configured, never a chain that might find another identity (instance
        // metadata, environment variables) the admin did not mean to lend.
        const lent = this.operatorIdentity;
        if (!lent) throw new Error("the operator's own Azure identity is not enabled (chart value workloadIdentity.enabled)");
        this.workloadIdentity ??= lazyTokenCredential((id) =>
          lent.type === "workloadIdentity" ? new id.WorkloadIdentityCredential() : new id.ManagedIdentityCredential(lent.clientId ? { clientId: lent.clientId } : {}),
        );
        const tokenCredential = this.workloadIdentity;
        return { credentials: c, serviceUrl, service: new BlobServiceClient(serviceUrl, tokenCredential, opts), tokenCredential };
      }
    }
  }
}

type Identity = typeof IdentityModule;

/**
 * @azure/identity brings MSAL (some 650 modules, ~20 MB resident), which only Secrets that use
 * Azure AD need: it is loaded on the first token request, not at start-up.
 */
export function lazyTokenCredential(make: (identity: Identity) => TokenCredential): TokenCredential {
  let real: Promise<TokenCredential> | undefined;
  return {
    getToken: async (scopes, options) => {
      real ??= import("@azure/identity").then(make);
      return (await real).getToken(scopes, options);
    },
  };
}
