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
  /** Milliseconds that never go backwards; wall-clock-like (the Lease's times are written from it). */
  clock?: () => number;
}

/** Defaults as client-go's (and kube-controller-manager's). */
export const LEASE_DURATION_MS = 15_000;
export const RENEW_DEADLINE_MS = 10_000;
export const RETRY_PERIOD_MS = 2_000;

/** A monotonic clock that reads like Date.now(): a wall-clock step must not shorten or stretch a deadline. */
const monotonicNow = (): number => performance.timeOrigin + performance.now();

/**
 * Lease-based leader election with client-go's guarantee. A standby takes the Lease only after it
 * saw the holder's record unchanged for a whole lease duration (its own clock, so skew between
 * replicas does not matter). The holder, in turn, stops acting once `renewDeadline` has passed since
 * it *sent* its last successful renewal, whatever its API calls are doing: a renewal that hangs is
 * abandoned at that deadline, not waited for. The record the standby saw was written after that
 * send, so the holder stops at least leaseDuration − renewDeadline before the standby may start.
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
  /** When the last successful acquisition or renewal was sent. */
  private renewedAt = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private attemptAbort: AbortController | undefined;
  private onLost: (() => void) | undefined;

  private readonly opts: LeaderElectionOptions;

  constructor(opts: LeaderElectionOptions) {
    this.opts = opts;
    this.kube = opts.kube;
    this.leaseDurationMs = opts.leaseDurationMs ?? LEASE_DURATION_MS;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? RENEW_DEADLINE_MS;
    this.retryPeriodMs = opts.retryPeriodMs ?? RETRY_PERIOD_MS;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs && this.retryPeriodMs > 0)) {
      throw new RangeError("leader election needs lease duration > renew deadline > retry period > 0");
    }
    this.now = opts.clock ?? monotonicNow;
  }

  /** True from winning the Lease until the renew deadline passes without a renewal (or release). */
  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Resolves once this process holds the Lease; then keeps renewing it every retry period. When no
   * renewal succeeded within the renew deadline, isLeader turns false and `onLost` is called at
   * once (from a timer, not from the hanging call).
   */
  async acquire(onLost: () => void): Promise<void> {
    this.onLost = onLost;
    while (!this.stopped) {
      const sent = this.now();
      // An acquisition that takes longer than the renew deadline is worth nothing: abandon it.
      if (await this.attempt(sent + this.renewDeadlineMs)) {
        this.renewedAt = sent;
        break;
      }
      await delay(this.retryPeriodMs);
    }
    if (this.stopped) return;
    this.leading = true;
    this.opts.log.info("became leader", { lease: this.leaseName, identity: this.opts.identity });
    this.armDeadline();
    this.scheduleRenewal();
  }

  /** Gives the lease up so a standby replica takes over at once instead of after a lease duration. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadlineTimer);
    this.attemptAbort?.abort();
    if (!this.leading) return;
    this.leading = false;
    const signal = AbortSignal.timeout(this.renewDeadlineMs);
    try {
      const lease = await this.kube.get<Lease>(LEASES, this.opts.namespace, this.opts.name, { signal });
      const spec = releasedLeaseSpec(lease.spec, this.opts.identity, this.now());
      if (!spec) return;
      await this.kube.replace(LEASES, this.opts.namespace, this.opts.name, { ...lease, spec }, { signal, unfenced: true });
    } catch (err) {
      this.opts.log.warn("could not release lease", { error: String(err) });
    }
  }

  private get leaseName(): string {
    return `${this.opts.namespace}/${this.opts.name}`;
  }

  private scheduleRenewal(): void {
    this.renewTimer = setTimeout(() => void this.renew(), this.retryPeriodMs);
  }

  private async renew(): Promise<void> {
    if (this.stopped || !this.leading) return;
    const sent = this.now();
    const ok = await this.attempt(this.renewedAt + this.renewDeadlineMs);
    if (this.stopped || !this.leading) return;
    if (ok) {
      this.renewedAt = sent;
      this.armDeadline();
    }
    this.scheduleRenewal();
  }

  /** At renewedAt + renewDeadline this process stops acting, unless a renewal moved renewedAt on. */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => this.lose(), Math.max(0, this.renewedAt + this.renewDeadlineMs - this.now()));
  }

  private lose(): void {
    if (!this.leading || this.stopped) return;
    this.leading = false;
    clearTimeout(this.renewTimer);
    this.attemptAbort?.abort();
    this.opts.log.error("stopped acting: the lease was not renewed within the renew deadline", {
      lease: this.leaseName,
      identity: this.opts.identity,
      lastRenewalSentMsAgo: Math.round(this.now() - this.renewedAt),
      renewDeadlineMs: this.renewDeadlineMs,
    });
    this.onLost?.();
  }

  /** One try to take or renew the Lease, abandoned at `deadline`. */
  private async attempt(deadline: number): Promise<boolean> {
    const left = deadline - this.now();
    if (left <= 0) return false;
    const abort = new AbortController();
    this.attemptAbort = abort;
    const timer = setTimeout(() => abort.abort(new Error(`the renew deadline (${this.renewDeadlineMs / 1000} s) passed`)), left);
    try {
      return await this.tryAcquireOrRenew(abort.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const call = { signal, unfenced: true };
    let lease: Lease;
    try {
      lease = await this.kube.get<Lease>(LEASES, namespace, name, call);
    } catch (err) {
      if (!isNotFound(err)) {
        this.opts.log.warn("cannot read lease", { error: String(err) });
        return false;
      }
      try {
        await this.kube.create(LEASES, namespace, { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec: newLeaseSpec(identity, this.now(), this.leaseDurationMs) }, call);
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
      await this.kube.replace(LEASES, namespace, name, { ...lease, spec: decision.take }, call);
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
