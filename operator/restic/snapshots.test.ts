import assert from "node:assert/strict";
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
    const skipped = parseSnapshots('[{"id":"ab"},{"id":"cd","time":"2026-01-01T00:00:00Z"},7]');
    assert.ok(skipped.ok);
    assert.deepEqual(skipped.value.map((s) => s.id), ["cd"]);
  });
});
