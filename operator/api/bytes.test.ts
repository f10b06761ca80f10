import assert from "node:assert/strict";
import { formatBytes } from "./bytes.ts";

describe("formatBytes", () => {
  it("uses binary units with few decimals", () => {
    assert.equal(formatBytes(0), "0 B");
    assert.equal(formatBytes(1023), "1023 B");
    assert.equal(formatBytes(1024), "1 KiB");
    assert.equal(formatBytes(1536), "1.5 KiB");
    assert.equal(formatBytes(3000011), "2.861 MiB");
    assert.equal(formatBytes(426033730), "406.3 MiB");
    assert.equal(formatBytes(5 * 1024 ** 4), "5 TiB");
  });

  it("treats nonsense as zero", () => {
    assert.equal(formatBytes(-1), "0 B");
    assert.equal(formatBytes(Number.NaN), "0 B");
  });
});
