import assert from "node:assert/strict";
import { planReads, shareBudget } from "./budget.ts";

describe("shareBudget (Snapshot objects per namespace)", () => {
  const share = (budget: number, need: Record<string, number>) => Object.fromEntries(shareBudget(budget, new Map(Object.entries(need))));

  it("gives every Repository all it needs when the namespace's total fits", () => {
    assert.deepEqual(share(100, { a: 10, b: 90 }), { a: 10, b: 90 });
  });

  it("keeps small Repositories whole and splits the rest equally among the large ones", () => {
    assert.deepEqual(share(100, { small: 10, huge: 5000, big: 200 }), { small: 10, big: 45, huge: 45 });
    const r = share(10, { a: 100, b: 100, c: 100 });
    assert.deepEqual(r, { a: 4, b: 3, c: 3 }, "remainders by key order");
    assert.equal(Object.values(share(10_000, { x: 1e6, y: 3, z: 12_345 })).reduce((n, v) => n + v, 0), 10_000, "never more than the budget");
  });

  it("does not depend on the order Repositories were learned in, and handles nothing to share", () => {
    assert.deepEqual(shareBudget(7, new Map([["b", 9], ["a", 9]])), shareBudget(7, new Map([["a", 9], ["b", 9]])));
    assert.deepEqual(share(0, { a: 5 }), { a: 0 });
    assert.deepEqual(share(5, {}), {});
  });
});

describe("planReads", () => {
  const e = (id: string, lastModified: number) => ({ id, lastModified });
  const entries = [e("a", 1), e("b", 4), e("c", 2), e("d", 3)];

  it("keeps the newest `limit` files by upload time, in listing order", () => {
    const p = planReads(entries, () => false, 2, 100);
    assert.deepEqual(p.keep.map((x) => x.id), ["b", "d"]);
    assert.deepEqual(p.read.map((x) => x.id), ["b", "d"]);
  });

  it("reads only what is not known yet, at most `maxReads` a look, and says how many wait", () => {
    const p = planReads(entries, (id) => id === "a", 10, 2);
    assert.deepEqual(p.read.map((x) => x.id), ["b", "c"]);
    assert.equal(p.deferred, 1);
    assert.equal(p.keep.length, 4);
  });
});
