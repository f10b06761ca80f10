import assert from "node:assert/strict";
import { fixture } from "./fixtures.ts";
import { parseStats, statsArgs } from "./stats.ts";

describe("stats --mode raw-data", () => {
  it("builds its arguments", () => {
    assert.deepEqual(statsArgs(), ["stats", "--mode", "raw-data"]);
  });

  it("parses the captured output", () => {
    const parsed = parseStats(fixture("stats-raw-data.json"));
    assert.ok(parsed.ok);
    assert.equal(parsed.value.snapshotsCount, 4);
    assert.ok(parsed.value.totalSize > 600_000_000 && parsed.value.totalSize < 610_000_000);
    assert.ok((parsed.value.totalUncompressedSize ?? 0) > 0);
    assert.ok((parsed.value.blobCount ?? 0) > 0);
  });

  it("refuses output without a size or a snapshot count", () => {
    for (const bad of ["", "[]", "{}", '{"total_size":-1}', '{"total_size":"1"}', "oops", '{"total_size":1}', '{"total_size":1,"snapshots_count":-1}', '{"total_size":1,"snapshots_count":1.5}']) {
      assert.equal(parseStats(bad).ok, false, bad);
    }
    assert.deepEqual(parseStats('{"total_size":1,"snapshots_count":0}'), { ok: true, value: { totalSize: 1, snapshotsCount: 0 } });
  });
});
