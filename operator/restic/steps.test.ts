import assert from "node:assert/strict";
import { errorSamplesOf, firstPaths, volumePathOf } from "./steps.ts";

describe("per-file errors in a result", () => {
  it("names files by their path inside the volume", () => {
    assert.equal(volumePathOf("/blobstash/volume/db/base/1", "/blobstash/volume"), "/db/base/1");
    assert.equal(volumePathOf("/blobstash/volume", "/blobstash/volume/"), "/");
    assert.equal(volumePathOf("/elsewhere/x", "/blobstash/volume"), "/elsewhere/x");
    assert.equal(volumePathOf("db", "/blobstash/volume"), "/db");
    assert.equal(volumePathOf("./db/x", "/blobstash/volume"), "/db/x");
    assert.equal(volumePathOf(".", "/blobstash/volume"), "/");
  });

  it("keeps restic's messages and the paths they are about", () => {
    const e = errorSamplesOf(
      3,
      [
        { type: "error", message: "/blobstash/volume/secret: open secret: permission denied", during: "archival", item: "/blobstash/volume/secret" },
        { type: "error", message: "lstat failed", item: "/blobstash/volume/db" },
        { type: "error", message: "no item" },
      ],
      "/blobstash/volume",
    );
    assert.deepEqual(e, {
      count: 3,
      samples: ["/secret: open secret: permission denied", "/blobstash/volume/db: lstat failed".replace("/blobstash/volume", ""), "no item"],
      paths: ["/secret", "/db"],
    });
  });

  it("lists the first paths in one line", () => {
    assert.equal(firstPaths(["/a", "/b"], 2), "/a, /b");
    assert.equal(firstPaths(["/a", "/b", "/c", "/d"], 12), "/a, /b, /c and 9 more");
  });
});
