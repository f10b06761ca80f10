import assert from "node:assert/strict";
import { parseForget } from "./forget.ts";
import { parseStats } from "./stats.ts";
import { fixture } from "./fixtures.ts";
import { parseSnapshots, snapshotsArgs } from "./snapshots.ts";

describe("snapshots", () => {
  it("builds arguments with filters and ids", () => {
    assert.deepEqual(snapshotsArgs(), ["snapshots"]);
    assert.deepEqual(snapshotsArgs({ ids: ["latest"], host: "host-0", tags: ["demo/nightly"] }), [
      "snapshots",
      "--host",
      "host-0",
      "--tag",
      "demo/nightly",
      "latest",
    ]);
  });

  it("parses the captured list", () => {
    const parsed = parseSnapshots(fixture("snapshots.json"));
    assert.ok(parsed.ok);
    const list = parsed.value;
    assert.equal(list.length, 4);
    assert.equal(list[0]!.id, "b448294a78ca019bb3f5bc13b4c871ce1c6db37f23e41b4ca5db0a99e4e74d23");
    assert.equal(list[0]!.shortId, "b448294a");
    assert.equal(list[0]!.hostname, "host-0");
    assert.deepEqual(list[0]!.tags, ["demo/nightly"]);
    assert.equal(list[1]!.parent, list[0]!.id);
  });

  it("parses an empty result (unknown id) and refuses garbage without throwing", () => {
    assert.deepEqual(parseSnapshots(fixture("snapshots-missing.json")), { ok: true, value: [] });
    for (const bad of ["", "{}", "not json", '{"a":1}']) assert.equal(parseSnapshots(bad).ok, false, bad);
    const cd = "cd".repeat(32);
    const skipped = parseSnapshots(`[{"id":"ab"},{"id":"${cd}","time":"2026-01-01T00:00:00Z"},7]`);
    assert.ok(skipped.ok);
    assert.deepEqual(skipped.value.map((s) => s.id), [cd]);
  });

  it("skips entries that are not snapshots restic wrote, and never throws on a hostile document", () => {
    const id = "a".repeat(64);
    const parsed = parseSnapshots(
      JSON.stringify([
        { id, time: "2026-01-01T00:00:00Z", hostname: "h", parent: "../x" },
        { id: "../../etc/passwd", time: "2026-01-01T00:00:00Z" },
        { id: "b".repeat(64), time: "yesterday" },
        { id: 5, time: 6 },
        null,
        [],
      ]),
    );
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value.map((s) => [s.id, s.parent]), [[id, undefined]]);
    for (const text of ["", "{", "{}", "[".repeat(100_000), `[${"1,".repeat(100_000)}1]`]) {
      const r = parseSnapshots(text);
      assert.ok(!r.ok || r.value.length === 0, text.slice(0, 20));
    }
    for (const text of ["[]", "null", '{"total_size":-1}', '{"total_size":"1"}', "[".repeat(50_000)]) {
      assert.doesNotThrow(() => parseStats(text));
      assert.doesNotThrow(() => parseForget(text));
    }
  });
});
