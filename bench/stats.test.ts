import assert from "node:assert/strict";
import { envInt, ms, percentile, ratio, summarize } from "./stats.ts";

describe("bench stats", () => {
  it("takes percentiles by nearest rank", () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
    assert.equal(percentile(hundred, 50), 50);
    assert.equal(percentile(hundred, 99), 99);
    assert.equal(percentile(hundred, 100), 100);
    assert.equal(percentile([7], 99), 7);
    assert.equal(percentile([1, 2, 3, 4], 50), 2);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  it("summarizes without reordering the caller's samples", () => {
    const samples = [3, 1, 2];
    const s = summarize(samples);
    assert.deepEqual(samples, [3, 1, 2]);
    assert.deepEqual(s, { n: 3, min: 1, p50: 2, p90: 3, p99: 3, max: 3, mean: 2 });
  });

  it("formats durations and ratios", () => {
    assert.equal(ms(12.34), "12.3 ms");
    assert.equal(ms(345.6), "346 ms");
    assert.equal(ms(12_345), "12.3 s");
    assert.equal(ms(Number.NaN), "n/a");
    assert.equal(ratio(30, 10), "×3.0");
    assert.equal(ratio(250, 10), "×25");
    assert.equal(ratio(1, 0), "×n/a");
  });

  it("reads sizes from the environment, refusing nonsense", () => {
    assert.equal(envInt("N", 5, {}), 5);
    assert.equal(envInt("N", 5, { N: "" }), 5);
    assert.equal(envInt("N", 5, { N: "12" }), 12);
    assert.throws(() => envInt("N", 5, { N: "0" }), /N=0/);
    assert.throws(() => envInt("N", 5, { N: "1.5" }), /whole number/);
  });
});
