import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import { isConflict, isNotFound } from "./client.ts";
import type { Logger } from "../observability/logger.ts";

export interface LeaderElectionOptions {
  kc: KubeConfig;
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
  private readonly api: CoordinationV1Api;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private observedRecord = "";
  private observedAt = 0;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  private readonly opts: LeaderElectionOptions;

  constructor(opts: LeaderElectionOptions) {
    this.opts = opts;
    this.api = opts.kc.makeApiClient(CoordinationV1Api);
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
      const lease = await this.api.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace });
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: new V1MicroTime() };
      await this.api.replaceNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace, body: lease });
    } catch (err) {
      this.opts.log.warn("could not release lease", { error: String(err) });
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const nowDate = new V1MicroTime(this.now());
    const leaseDurationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) {
        this.opts.log.warn("cannot read lease", { error: String(err) });
        return false;
      }
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: nowDate, renewTime: nowDate, leaseTransitions: 0 },
          },
        });
        return true;
      } catch (createErr) {
        if (!isConflict(createErr)) this.opts.log.warn("cannot create lease", { error: String(createErr) });
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = this.now();
    }
    const holder = spec.holderIdentity;
    const heldByOther = holder && holder !== identity;
    const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (heldByOther && this.observedAt + duration > this.now()) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: holder === identity ? spec.acquireTime : nowDate,
      renewTime: nowDate,
      leaseTransitions: transitions,
    };
    try {
      await this.api.replaceNamespacedLease({ name, namespace, body: lease });
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
