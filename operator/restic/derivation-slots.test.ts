import assert from "node:assert/strict";
import { DerivationSlots, TimeLimitReached } from "./derivation-slots.ts";

/** A derivation that ends when the test says so. */
function pending(): { promise: Promise<string>; finish: (v: string) => void } {
  let finish!: (v: string) => void;
  const promise = new Promise<string>((resolve) => (finish = resolve));
  return { promise, finish };
}

describe("DerivationSlots", () => {
  it("runs at most `size` derivations at once, the next when one ends", async () => {
    const slots = new DerivationSlots(2);
    const a = pending();
    const b = pending();
    const far = performance.now() + 10_000;
    const ra = slots.run(() => a.promise, far);
    const rb = slots.run(() => b.promise, far);
    let thirdStarted = false;
    const rc = slots.run(async () => {
      thirdStarted = true;
      return "c";
    }, far);
    await new Promise((r) => setImmediate(r));
    assert.equal(thirdStarted, false);
    a.finish("a");
    assert.equal(await ra, "a");
    assert.equal(await rc, "c");
    assert.equal(thirdStarted, true);
    b.finish("b");
    assert.equal(await rb, "b");
    assert.equal(slots.started, 3);
  });

  it("gives up waiting for a slot at the deadline, and leaves no waiter behind", async () => {
    const slots = new DerivationSlots(1);
    const hog = pending();
    const held = slots.run(() => hog.promise, performance.now() + 10_000);
    const t0 = performance.now();
    await assert.rejects(slots.run(async () => "never", t0 + 50), TimeLimitReached);
    assert.ok(performance.now() - t0 < 1000);
    hog.finish("done");
    assert.equal(await held, "done");
    assert.equal(slots.started, 1, "the late caller never started");
    assert.equal(await slots.run(async () => "next", performance.now() + 1000), "next");
  });

  it("gives up on a derivation that runs past the deadline, which keeps its slot until it ends", async () => {
    const slots = new DerivationSlots(1);
    const slow = pending();
    await assert.rejects(slots.run(() => slow.promise, performance.now() + 30), TimeLimitReached);
    let started = false;
    const next = slots.run(async () => {
      started = true;
      return "next";
    }, performance.now() + 10_000);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(started, false, "the slot is still taken by the derivation that outlived its caller");
    slow.finish("late");
    assert.equal(await next, "next");
  });
});
