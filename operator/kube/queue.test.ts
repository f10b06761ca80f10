import assert from "node:assert/strict";
import { WorkQueue } from "./queue.ts";

describe("WorkQueue", () => {
  it("de-duplicates keys waiting in the queue", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("a");
    q.add("b");
    assert.equal(q.length, 2);
    assert.equal(await q.get(), "a");
    assert.equal(await q.get(), "b");
  });

  it("never hands out a key that is in flight; re-adds it once done", async () => {
    const q = new WorkQueue();
    q.add("a");
    const first = await q.get();
    q.add("a");
    assert.equal(q.length, 0, "in-flight key is held back");
    q.done(first!);
    assert.equal(q.length, 1);
    assert.equal(await q.get(), "a");
  });

  it("wakes a waiting worker", async () => {
    const q = new WorkQueue();
    const pending = q.get();
    q.add("x");
    assert.equal(await pending, "x");
  });

  it("backs off exponentially per key and forgets on success", () => {
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
    assert.deepEqual([1, 2, 3, 4, 5].map(() => q.addRateLimited("k")), [100, 200, 400, 800, 1000]);
    q.forget("k");
    assert.equal(q.failureCount("k"), 0);
    q.shutdown();
  });

  it("addAfter keeps the earliest schedule and delivers the key", async () => {
    const q = new WorkQueue();
    q.addAfter("k", 60_000);
    q.addAfter("k", 5);
    assert.equal(await q.get(), "k");
    q.shutdown();
  });

  it("releases waiters on shutdown", async () => {
    const q = new WorkQueue();
    const pending = q.get();
    q.shutdown();
    assert.equal(await pending, undefined);
  });

  it("with groupOf, takes waiting keys round-robin across groups (one namespace cannot starve another)", async () => {
    const q = new WorkQueue({ groupOf: (k) => k.split("/")[0]! });
    for (let i = 0; i < 4; i++) q.add(`big/r${i}`);
    q.add("small/r0");
    q.add("other/r0");
    q.add("other/r1");
    assert.equal(q.length, 7);
    const order: string[] = [];
    for (let i = 0; i < 7; i++) order.push((await q.get())!);
    assert.deepEqual(order, ["big/r0", "small/r0", "other/r0", "big/r1", "other/r1", "big/r2", "big/r3"]);
    assert.equal(q.length, 0);
  });

  it("hands out keys added by a change before keys back from addAfter, and moves a routine key up when a change adds it", async () => {
    const q = new WorkQueue();
    q.addAfter("r1", 1);
    q.addAfter("r2", 2);
    while (q.length < 2) await new Promise((r) => setTimeout(r, 1));
    q.add("new1");
    q.add("new2");
    q.add("r2");
    assert.equal(q.length, 4, "r2 moved up, not added twice");
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push((await q.get())!);
    assert.deepEqual(order, ["new1", "new2", "r2", "r1"]);
    assert.equal(q.length, 0);
    q.add("r2");
    assert.equal(q.length, 0, "in flight: held back");
    for (const k of order) q.done(k);
    assert.equal(await q.get(), "r2", "the stale routine entry of r2 is not handed out again");
    assert.equal(q.length, 0);
  });

  it("a key back from addAfter while in flight goes again as routine, not ahead of waiting keys", async () => {
    const q = new WorkQueue();
    q.add("busy");
    assert.equal(await q.get(), "busy");
    q.addAfter("busy", 1);
    q.addAfter("other", 2);
    // Timers fire in order: once "other" waits, "busy" has come back while in flight.
    while (q.length < 1) await new Promise((r) => setTimeout(r, 1));
    q.done("busy");
    assert.deepEqual([await q.get(), await q.get()], ["other", "busy"]);
  });
});
