import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  it("reads Go-style durations", () => {
    assert.equal(parseDuration("90s"), 90_000);
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("1.5h"), 5_400_000);
    assert.equal(parseDuration("7d"), 7 * 86_400_000);
    assert.equal(parseDuration("0"), 0);
  });
  it("refuses what is not a duration", () => {
    for (const bad of ["", "10", "5 minutes", "1h-30m", "m", "1x"]) assert.equal(parseDuration(bad), undefined, bad);
  });
});

describe("formatDuration", () => {
  it("prints the shortest Go-style form", () => {
    assert.equal(formatDuration(5_400_000), "1h30m");
    assert.equal(formatDuration(61_000), "1m1s");
    assert.equal(formatDuration(0), "0ms");
    assert.equal(formatDuration(3_600_000), "1h");
  });
});
