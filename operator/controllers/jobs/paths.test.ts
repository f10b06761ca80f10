import assert from "node:assert/strict";
import { backupExcludeArg, relativeArg, snapshotPattern, volumePath } from "./paths.ts";

const mounts = [
  { name: "data", mountPath: "/source/data" },
  { name: "data", mountPath: "/source/data/logs", subPath: "log-volume" },
];

describe("volume paths", () => {
  it("takes paths as paths inside the PVC without volumeMounts", () => {
    assert.deepEqual(volumePath("/", undefined), { ok: true, path: "" });
    assert.deepEqual(volumePath("/a/b/", []), { ok: true, path: "a/b" });
    assert.deepEqual(volumePath("a//./b", undefined), { ok: true, path: "a/b" });
    assert.equal(volumePath("/a/../../etc", undefined).ok, false);
  });

  it("translates workload paths through the longest matching mountPath and its subPath", () => {
    assert.deepEqual(volumePath("/source/data", mounts), { ok: true, path: "" });
    assert.deepEqual(volumePath("/source/data/db", mounts), { ok: true, path: "db" });
    assert.deepEqual(volumePath("/source/data/logs/app.log", mounts), { ok: true, path: "log-volume/app.log" });
    assert.deepEqual(volumePath("/source/database", mounts).ok, false, "a mountPath matches whole segments only");
    const outside = volumePath("/etc", mounts);
    assert.ok(!outside.ok && /not under any volumeMounts mountPath \(\/source\/data, \/source\/data\/logs\)/.test(outside.error));
  });

  it("makes restic arguments", () => {
    assert.equal(relativeArg(""), ".");
    assert.equal(relativeArg("a/b"), "a/b");
    assert.deepEqual(backupExcludeArg("*.tmp", mounts, "/blobstash/volume"), { ok: true, path: "*.tmp" });
    assert.deepEqual(backupExcludeArg("/source/data/cache", mounts, "/blobstash/volume"), { ok: true, path: "/blobstash/volume/cache" });
    assert.deepEqual(backupExcludeArg("/source/data", mounts, "/blobstash/volume"), { ok: true, path: "/blobstash/volume" });
    assert.deepEqual(backupExcludeArg("/cache/*.bin", undefined, "/blobstash/volume"), { ok: true, path: "/blobstash/volume/cache/*.bin" });
    assert.deepEqual(snapshotPattern("/source/data/db", mounts), { ok: true, path: "/db" });
    assert.deepEqual(snapshotPattern("*.log", mounts), { ok: true, path: "*.log" });
    assert.equal(snapshotPattern("/elsewhere", mounts).ok, false);
  });
});
