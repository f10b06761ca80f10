// Secret data on demand. The operator watches Secrets' metadata only (a change still re-checks the
// Repositories that name the Secret at once) and reads a Secret's data when a reconcile needs it,
// keeping the copies it read until the Secret changes: the cache holds the Secrets Repositories
// name, not every Secret of the cluster.

import type { V1Secret } from "@kubernetes/client-node";
import type { KubeClient, KubeObject } from "./api-client.ts";
import type { InformerSet } from "./informer.ts";
import { SECRETS } from "./resources.ts";

const MAX_CACHED = 2000;

export class SecretReader {
  private readonly cache = new Map<string, V1Secret>();
  private readonly kube: KubeClient;
  private readonly metadata: InformerSet<KubeObject>;

  constructor(kube: KubeClient, metadata: InformerSet<KubeObject>) {
    this.kube = kube;
    this.metadata = metadata;
    metadata.on("delete", (s) => this.cache.delete(`${s.metadata?.namespace}/${s.metadata?.name}`));
  }

  /** The Secret as of the informer's current resourceVersion; undefined when the informer knows no such Secret. */
  async get(namespace: string, name: string): Promise<V1Secret | undefined> {
    const key = `${namespace}/${name}`;
    const meta = this.metadata.get(name, namespace);
    if (!meta) {
      this.cache.delete(key);
      return undefined;
    }
    const cached = this.cache.get(key);
    if (cached && cached.metadata?.resourceVersion === meta.metadata?.resourceVersion) return cached;
    const fresh = await this.kube.find<V1Secret>(SECRETS, namespace, name);
    this.cache.delete(key);
    if (!fresh) return undefined;
    delete fresh.metadata?.managedFields;
    this.cache.set(key, fresh);
    if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    return fresh;
  }

  get size(): number {
    return this.cache.size;
  }
}
