// Secret data on demand. The operator watches Secrets' metadata only (a change still re-checks the
// Repositories that name the Secret at once) and reads a Secret's data when a reconcile needs it,
// keeping the copies it read until the Secret changes: the cache holds the Secrets Repositories
// name, not every Secret of the cluster.
//
// A tenant writes what its Secrets hold (up to the API server's 1 MiB each): the cache keeps at most
// a byte budget of Secret data, least recently used first out, so no namespace's Secrets can grow
// the operator's memory without bound. An evicted Secret is read again when it is next needed.

import type { V1Secret } from "@kubernetes/client-node";
import type { KubeClient, KubeObject } from "./api-client.ts";
import type { InformerSet } from "./informer.ts";
import { SECRETS } from "./resources.ts";

export const MAX_CACHED_SECRETS = 2000;
export const MAX_CACHED_BYTES = 32 << 20;

interface Entry {
  secret: V1Secret;
  bytes: number;
}

/** What a Secret costs the cache: its data as the API server sent it (base64 text). */
export function secretBytes(secret: V1Secret): number {
  let n = 0;
  for (const [k, v] of Object.entries(secret.data ?? {})) n += k.length + v.length;
  return n;
}

export class SecretReader {
  private readonly cache = new Map<string, Entry>();
  private bytes = 0;
  private readonly kube: KubeClient;
  private readonly metadata: InformerSet<KubeObject>;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  constructor(kube: KubeClient, metadata: InformerSet<KubeObject>, limits: { maxEntries?: number; maxBytes?: number } = {}) {
    this.kube = kube;
    this.metadata = metadata;
    this.maxEntries = limits.maxEntries ?? MAX_CACHED_SECRETS;
    this.maxBytes = limits.maxBytes ?? MAX_CACHED_BYTES;
    metadata.on("delete", (s) => this.drop(`${s.metadata?.namespace}/${s.metadata?.name}`));
  }

  /** The Secret as of the informer's current resourceVersion; undefined when the informer knows no such Secret. */
  async get(namespace: string, name: string): Promise<V1Secret | undefined> {
    const key = `${namespace}/${name}`;
    const meta = this.metadata.get(name, namespace);
    if (!meta) {
      this.drop(key);
      return undefined;
    }
    const cached = this.cache.get(key);
    if (cached && cached.secret.metadata?.resourceVersion === meta.metadata?.resourceVersion) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.cache.delete(key);
      this.cache.set(key, cached);
      return cached.secret;
    }
    const fresh = await this.kube.find<V1Secret>(SECRETS, namespace, name);
    this.drop(key);
    if (!fresh) return undefined;
    delete fresh.metadata?.managedFields;
    this.keep(key, fresh);
    return fresh;
  }

  get size(): number {
    return this.cache.size;
  }

  get cachedBytes(): number {
    return this.bytes;
  }

  private keep(key: string, secret: V1Secret): void {
    const bytes = secretBytes(secret);
    // One Secret beyond the whole budget is handed out but not kept.
    if (bytes > this.maxBytes) return;
    this.cache.set(key, { secret, bytes });
    this.bytes += bytes;
    while (this.cache.size > this.maxEntries || this.bytes > this.maxBytes) this.drop(this.cache.keys().next().value!);
  }

  private drop(key: string): void {
    const e = this.cache.get(key);
    if (!e) return;
    this.cache.delete(key);
    this.bytes -= e.bytes;
  }
}
