import assert from "node:assert/strict";
import { MAX_PREFIX_LENGTH, prefixOverlap, prefixProblem, repositoryPath } from "./repository.ts";

describe("prefixProblem", () => {
  it("accepts the longest prefix whose restic blob names fit Azure's 1,024 characters, and refuses one more", () => {
    const longest = "p".repeat(MAX_PREFIX_LENGTH);
    assert.equal(prefixProblem(`/${longest}/`), undefined);
    assert.equal(repositoryPath(longest, "snapshots", "f".repeat(64)).length, 1024);
    assert.match(prefixProblem(`${longest}x`) ?? "", /is 950 characters long .*at most 949: shorten it/);
  });

  it("counts path segments: restic adds three, Azure allows 254", () => {
    assert.equal(prefixProblem(Array(251).fill("a").join("/")), undefined);
    assert.match(prefixProblem(Array(252).fill("a").join("/")) ?? "", /has 252 path segments/);
  });
});

describe("prefixOverlap", () => {
  it("sees the same place under different spellings, and one prefix inside another", () => {
    assert.equal(prefixOverlap("/p/", "p"), "same");
    assert.equal(prefixOverlap("", "/"), "same");
    assert.equal(prefixOverlap("a", "a/b"), "contains");
    assert.equal(prefixOverlap("/", "x"), "contains");
    assert.equal(prefixOverlap("a/b/", "/a"), "inside");
    assert.equal(prefixOverlap("a/b", "a/bc"), undefined);
    assert.equal(prefixOverlap("team-a", "team-b"), undefined);
  });
});
