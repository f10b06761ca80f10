// One BlobServiceClient (and one token credential, with its token cache) per distinct credential,
// shared by every Repository whose Secret holds the same values: a thousand Repositories on one
// Secret cost one client. Keyed by a hash, so the cache holds no secret as a key.

import { createHash } from "node:crypto";
import { AnonymousCredential, BlobServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob";
import { ClientSecretCredential, DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import type { AzureCredentials } from "./credentials.ts";
import { blobServiceUrl } from "./endpoint.ts";

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

  constructor(options: { maxEntries?: number; pipelineOptions?: StoragePipelineOptions } = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
    this.pipelineOptions = options.pipelineOptions ?? PROBE_PIPELINE_OPTIONS;
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
    const opts = this.pipelineOptions;
    switch (c.mode) {
      case "accountKey": {
        const sharedKey = new StorageSharedKeyCredential(c.accountName, c.accountKey);
        return { credentials: c, serviceUrl, service: new BlobServiceClient(serviceUrl, sharedKey, opts), sharedKey };
      }
      case "sas":
        return { credentials: c, serviceUrl, service: new BlobServiceClient(`${serviceUrl}?${c.sas.token}`, new AnonymousCredential(), opts) };
      case "servicePrincipal": {
        const tokenCredential = new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret);
        return { credentials: c, serviceUrl, service: new BlobServiceClient(serviceUrl, tokenCredential, opts), tokenCredential };
      }
      case "workloadIdentity": {
        // The operator's own identity: one credential for the process, whatever the account.
        this.workloadIdentity ??= new DefaultAzureCredential();
        const tokenCredential = this.workloadIdentity;
        return { credentials: c, serviceUrl, service: new BlobServiceClient(serviceUrl, tokenCredential, opts), tokenCredential };
      }
    }
  }
}
