import assert from "node:assert/strict";
import { backupArgs } from "./backup.ts";
import { initArgs } from "./init.ts";
import { restoreArgs } from "./restore.ts";
import { unlockArgs } from "./unlock.ts";

describe("restic verb arguments", () => {
  it("init and unlock (stale locks only: never --remove-all)", () => {
    assert.deepEqual(initArgs(), ["init"]);
    assert.deepEqual(unlockArgs(), ["unlock"]);
  });

  it("backup: host, tags, grouping for the parent, excludes, then paths after --", () => {
    assert.deepEqual(backupArgs({ paths: ["data", "-odd-name"], excludes: ["*.tmp", "/blobstash/volume/cache"], host: "host-0", tags: ["demo/nightly"] }), [
      "backup",
      "--host",
      "host-0",
      "--group-by",
      "host,tags",
      "--tag",
      "demo/nightly",
      "--exclude",
      "*.tmp",
      "--exclude",
      "/blobstash/volume/cache",
      "--",
      "data",
      "-odd-name",
    ]);
    assert.deepEqual(backupArgs({ paths: [], excludes: [], host: "h", tags: [] }).slice(-2), ["--", "."]);
  });

  it("restore: the resolved id, the target, and filters", () => {
    assert.deepEqual(restoreArgs({ snapshot: "4bc21d6f", target: "/blobstash/volume", includes: ["/data"], excludes: [] }), [
      "restore",
      "4bc21d6f",
      "--target",
      "/blobstash/volume",
      "--include",
      "/data",
    ]);
    assert.deepEqual(restoreArgs({ snapshot: "4bc21d6f", target: "/t", includes: [], excludes: ["*.log"] }), ["restore", "4bc21d6f", "--target", "/t", "--exclude", "*.log"]);
    assert.deepEqual(restoreArgs({ snapshot: "latest", host: "host-0", target: "/t", includes: [], excludes: [] }), ["restore", "latest", "--target", "/t", "--host", "host-0"]);
    assert.deepEqual(restoreArgs({ snapshot: "latest", target: "/t", includes: [], excludes: [], overwrite: "never", deleteExtra: true }), ["restore", "latest", "--target", "/t", "--overwrite", "never", "--delete"]);
  });
});
