import assert from "node:assert/strict";
import { decideLease, leaseRecord, microTime, newLeaseSpec, releasedLeaseSpec, type LeaseObservation, type LeaseSpec } from "./lease-decision.ts";

const DURATION = 15_000;
const T0 = Date.parse("2026-01-01T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const held = (holder: string, renewMs: number, extra: LeaseSpec = {}): LeaseSpec => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: new Date(T0 - 60_000),
  renewTime: new Date(renewMs),
  leaseTransitions: 3,
  ...extra,
});

/** Runs decideLease at each time in turn against the same spec, carrying the observation, as the elector does. */
function observeAt(spec: LeaseSpec, times: number[], previous?: LeaseObservation) {
  let obs = previous;
  let last: ReturnType<typeof decideLease> | undefined;
  for (const nowMs of times) {
    last = decideLease({ spec, identity: "b", nowMs, leaseDurationMs: DURATION, previous: obs });
    obs = last.observation;
  }
  return last!;
}

describe("lease decision (leader election takeover)", () => {
  it("does not take a lease another replica holds when it has just seen it, however old its renewTime", () => {
    // renewTime an hour in the past: the holder's clock may be behind; only our own observation counts.
    const d = observeAt(held("a", T0 - 3600_000), [T0]);
    assert.equal(d.take, undefined);
    assert.equal(d.observation.firstSeenMs, T0);
  });

  it("takes it over once the same record has been seen unchanged for a whole lease duration", () => {
    const spec = held("a", T0);
    assert.equal(observeAt(spec, [T0, T0 + 2000, T0 + DURATION - 1]).take, undefined);
    const d = observeAt(spec, [T0, T0 + 2000, T0 + DURATION]);
    assert.ok(d.take);
    assert.equal(d.take.holderIdentity, "b");
    assert.equal(d.take.leaseTransitions, 4);
    assert.equal(iso(new Date(d.take.acquireTime!).getTime()), iso(T0 + DURATION));
    assert.equal(iso(new Date(d.take.renewTime!).getTime()), iso(T0 + DURATION));
    assert.equal(d.take.leaseDurationSeconds, 15);
  });

  it("starts counting again whenever the holder renews", () => {
    const first = observeAt(held("a", T0), [T0, T0 + 10_000]);
    // Renewed at T0+12s: the 15 s run from when we see that.
    const renewed = held("a", T0 + 12_000);
    assert.equal(observeAt(renewed, [T0 + 14_000, T0 + 20_000, T0 + 28_999], first.observation).take, undefined);
    assert.ok(observeAt(renewed, [T0 + 14_000, T0 + 29_000], first.observation).take);
  });

  it("honours the holder's lease duration, not its own", () => {
    const spec = held("a", T0, { leaseDurationSeconds: 40 });
    assert.equal(observeAt(spec, [T0, T0 + 30_000]).take, undefined);
    assert.ok(observeAt(spec, [T0, T0 + 40_000]).take);
  });

  it("takes a released lease (no holder) at once", () => {
    const released = releasedLeaseSpec(held("a", T0), "a", T0)!;
    const d = observeAt(released, [T0 + 1]);
    assert.equal(d.take?.holderIdentity, "b");
    assert.equal(d.take?.leaseDurationSeconds, 15, "the taker writes its own duration back, not the 1 s of the release");
    assert.equal(d.take?.leaseTransitions, 4);
  });

  it("renews its own lease without counting a transition or moving acquireTime", () => {
    const spec = held("b", T0 - 3600_000);
    const d = observeAt(spec, [T0]);
    assert.ok(d.take);
    assert.equal(d.take.leaseTransitions, 3);
    assert.deepEqual(d.take.acquireTime, spec.acquireTime);
    assert.equal(iso(new Date(d.take.renewTime!).getTime()), iso(T0));
  });

  it("treats a change of holder, renewTime or duration as a new record, and nothing else", () => {
    const base = held("a", T0);
    assert.equal(leaseRecord(base), leaseRecord({ ...base, leaseTransitions: 9, acquireTime: new Date(0) }));
    assert.equal(leaseRecord(base), leaseRecord({ ...base, renewTime: iso(T0) }), "string and Date forms of one time are one record");
    for (const change of [{ holderIdentity: "c" }, { renewTime: new Date(T0 + 1) }, { leaseDurationSeconds: 16 }]) {
      assert.notEqual(leaseRecord(base), leaseRecord({ ...base, ...change }));
    }
  });

  it("releases only a lease it holds, leaving no holder and a 1 s duration", () => {
    assert.equal(releasedLeaseSpec(held("a", T0), "b", T0), undefined);
    assert.equal(releasedLeaseSpec(undefined, "b", T0), undefined);
    const r = releasedLeaseSpec(held("b", T0 - 5000), "b", T0)!;
    assert.equal("holderIdentity" in r, false);
    assert.equal(r.leaseDurationSeconds, 1);
    assert.equal(r.leaseTransitions, 3);
    assert.equal(JSON.parse(JSON.stringify(r)).holderIdentity, undefined);
  });

  it("creates a lease held by itself with no transitions yet", () => {
    const s = newLeaseSpec("b", T0, 15_500);
    assert.equal(s.holderIdentity, "b");
    assert.equal(s.leaseDurationSeconds, 16);
    assert.equal(s.leaseTransitions, 0);
    assert.equal(JSON.stringify(s.renewTime), JSON.stringify("2026-01-01T00:00:00.000000Z"), "MicroTime serializes with microseconds");
  });

  it("formats MicroTime with six fractional digits, keeping the milliseconds", () => {
    assert.equal(microTime(T0 + 1234), "2026-01-01T00:00:01.234000Z");
  });
});
