// The decision at the heart of leader election, kept free of I/O so it can be tested on its own:
// given the Lease as just read, may this replica take (or keep) it, and with what spec?
// Expiry is judged by when *this replica* first saw the current record, never by the renewTime
// the holder wrote: the holder's clock may be skewed, ours only has to run at a sane rate.

/** coordination.k8s.io/v1 LeaseSpec; times are MicroTime strings on the wire (a Date is accepted when read). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string | Date;
  renewTime?: string | Date;
  leaseTransitions?: number;
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits (the API server rejects fewer). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** The Lease record as this replica last saw it, and when (local clock) it first saw that record. */
export interface LeaseObservation {
  record: string;
  firstSeenMs: number;
}

export interface LeaseDecisionInput {
  spec: LeaseSpec | undefined;
  identity: string;
  nowMs: number;
  leaseDurationMs: number;
  previous: LeaseObservation | undefined;
}

export interface LeaseDecision {
  observation: LeaseObservation;
  /** The spec to write (conditionally, on the read's resourceVersion); absent: another replica holds it. */
  take?: LeaseSpec;
}

/** Whether holder, renewTime or duration changed: any of them is a sign of life of the holder. */
export function leaseRecord(spec: LeaseSpec | undefined): string {
  const s = spec ?? {};
  const renew = s.renewTime === undefined ? undefined : new Date(s.renewTime).toISOString();
  return JSON.stringify([s.holderIdentity ?? null, renew ?? null, s.leaseDurationSeconds ?? null]);
}

export function decideLease(input: LeaseDecisionInput): LeaseDecision {
  const { spec = {}, identity, nowMs, leaseDurationMs, previous } = input;
  const record = leaseRecord(spec);
  const observation = previous?.record === record ? previous : { record, firstSeenMs: nowMs };
  const holder = spec.holderIdentity;
  const heldByOther = !!holder && holder !== identity;
  const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(leaseDurationMs / 1000)) * 1000;
  if (heldByOther && observation.firstSeenMs + durationMs > nowMs) return { observation };
  const now = microTime(nowMs);
  const renewing = holder === identity;
  return {
    observation,
    take: {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: renewing ? spec.acquireTime : now,
      renewTime: now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (renewing ? 0 : 1),
    },
  };
}

/** The spec of a Lease that does not exist yet. */
export function newLeaseSpec(identity: string, nowMs: number, leaseDurationMs: number): LeaseSpec {
  const now = microTime(nowMs);
  return { holderIdentity: identity, leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000), acquireTime: now, renewTime: now, leaseTransitions: 0 };
}

/**
 * What a leader that stops on purpose writes: no holder, so a standby takes it on its next try
 * instead of waiting out a whole lease duration. Undefined when this replica no longer holds it.
 */
export function releasedLeaseSpec(spec: LeaseSpec | undefined, identity: string, nowMs: number): LeaseSpec | undefined {
  if (spec?.holderIdentity !== identity) return undefined;
  const { holderIdentity: _gone, ...rest } = spec;
  return { ...rest, leaseDurationSeconds: 1, renewTime: microTime(nowMs) };
}
