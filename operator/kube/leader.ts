import type { KubeClient, KubeObject } from "./api-client.ts";
import { isConflict, isNotFound } from "./client.ts";
import { decideLease, newLeaseSpec, releasedLeaseSpec, type LeaseObservation, type LeaseSpec } from "./lease-decision.ts";
import { LEASES } from "./resources.ts";
import type { Logger } from "../observability/logger.ts";

type Lease = KubeObject & { spec?: LeaseSpec };

export interface LeaderElectionOptions {
  kube: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Logger;
  clock?: () => number;
}

/**
 * Lease-based leader election in client-go's manner: a lease is taken over only after its holder
 * has not renewed it for a whole lease duration *as observed locally* (so clock skew between
 * replicas does not matter). Losing the lease is fatal for the caller: two leaders must never act.
 */
export class LeaderElector {
  private readonly kube: KubeClient;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private observed: LeaseObservation | undefined;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  private readonly opts: LeaderElectionOptions;

  constructor(opts: LeaderElectionOptions) {
    this.opts = opts;
    this.kube = opts.kube;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    this.now = opts.clock ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this process holds the lease; then keeps renewing and calls onLost if it cannot. */
  async acquire(onLost: () => void): Promise<void> {
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew()) break;
      await delay(this.retryPeriodMs);
    }
    if (this.stopped) return;
    this.leading = true;
    this.opts.log.info("became leader", { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity });
    let lastRenew = this.now();
    const renew = async (): Promise<void> => {
      if (this.stopped) return;
      if (await this.tryAcquireOrRenew()) lastRenew = this.now();
      if (this.now() - lastRenew > this.renewDeadlineMs) {
        this.leading = false;
        this.opts.log.error("lost leadership", { lease: `${this.opts.namespace}/${this.opts.name}` });
        onLost();
        return;
      }
      this.timer = setTimeout(() => void renew(), this.retryPeriodMs);
    };
    this.timer = setTimeout(() => void renew(), this.retryPeriodMs);
  }

  /** Gives the lease up so a standby replica takes over at once instead of after a lease duration. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.kube.get<Lease>(LEASES, this.opts.namespace, this.opts.name);
      const spec = releasedLeaseSpec(lease.spec, this.opts.identity, this.now());
      if (!spec) return;
      await this.kube.replace(LEASES, this.opts.namespace, this.opts.name, { ...lease, spec });
    } catch (err) {
      this.opts.log.warn("could not release lease", { error: String(err) });
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    let lease: Lease;
    try {
      lease = await this.kube.get<Lease>(LEASES, namespace, name);
    } catch (err) {
      if (!isNotFound(err)) {
        this.opts.log.warn("cannot read lease", { error: String(err) });
        return false;
      }
      try {
        await this.kube.create(LEASES, namespace, { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec: newLeaseSpec(identity, this.now(), this.leaseDurationMs) });
        return true;
      } catch (createErr) {
        if (!isConflict(createErr)) this.opts.log.warn("cannot create lease", { error: String(createErr) });
        return false;
      }
    }
    const decision = decideLease({ spec: lease.spec, identity, nowMs: this.now(), leaseDurationMs: this.leaseDurationMs, previous: this.observed });
    this.observed = decision.observation;
    if (!decision.take) return false;
    try {
      // The read's resourceVersion travels with the body: of two replicas racing for it, one gets 409.
      await this.kube.replace(LEASES, namespace, name, { ...lease, spec: decision.take });
      return true;
    } catch (err) {
      if (!isConflict(err)) this.opts.log.warn("cannot update lease", { error: String(err) });
      return false;
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
