// The benchmarks' client (the operator has its own, operator/kube/api-client.ts).
// client-node 2.0.1 builds a new undici Agent for every request (KubeConfig.applySecurityAuthentication
// calls createDispatcher each time), so no connection is ever reused: every API call pays a TCP
// connect, a TLS handshake and a fresh SecureContext (the CA store parsed again), and leaves a
// socket behind until it idles out. At a thousand Repositories that is most of the operator's CPU
// and well over 100 MB of sockets and TLS state. This KubeConfig hands every request with the same
// TLS material one shared Agent, which keeps connections alive and pools them per origin.

import type https from "node:https";
import { KubeConfig, type RequestContext } from "@kubernetes/client-node";

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

/** At most this many pools: more only while credentials rotate (old ones idle out on their own). */
const MAX_POOLS = 4;

export class PooledKubeConfig extends KubeConfig {
  private readonly pools = new Map<string, Dispatcher>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (!fresh) return;
    // Keyed by what the connection is made of, as the base class reads it for this very request:
    // a rotated client certificate or CA (files are read again each time) gets a new pool.
    const key = await this.connectionKey();
    const pooled = this.pools.get(key);
    if (pooled) {
      context.setDispatcher(pooled);
      return;
    }
    this.pools.set(key, fresh);
    if (this.pools.size > MAX_POOLS) this.pools.delete(this.pools.keys().next().value!);
  }

  /** How many distinct connection pools exist (tests). */
  get poolCount(): number {
    return this.pools.size;
  }

  private async connectionKey(): Promise<string> {
    const opts: https.RequestOptions = {};
    await this.applyToHTTPSOptions(opts);
    const text = (v: unknown): unknown => (v === undefined ? null : Buffer.isBuffer(v) ? v.toString("base64") : Array.isArray(v) ? v.map(text) : String(v));
    const cluster = this.getCurrentCluster();
    return JSON.stringify([cluster?.server, cluster?.proxyUrl, text(opts.ca), text(opts.cert), text(opts.key), text(opts.pfx), text(opts.passphrase), opts.rejectUnauthorized ?? null, opts.servername ?? null]);
  }
}

/** KUBECONFIG-style file, with pooled connections: baselines then measure the API server, not handshakes. */
export function loadPooledKubeConfig(file: string): KubeConfig {
  const kc = new PooledKubeConfig();
  kc.loadFromFile(file);
  return kc;
}
