import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { MountError, projectKeys, writeProjection } from "./volumes.ts";

describe("node-agent volume projection", () => {
  const data = { a: Buffer.from("A"), b: Buffer.from("B") };

  it("projects every key with the default mode when no items are given", () => {
    assert.deepEqual(projectKeys("secret", data, undefined, 0o400, false), [
      { path: "a", content: Buffer.from("A"), mode: 0o400 },
      { path: "b", content: Buffer.from("B"), mode: 0o400 },
    ]);
  });

  it("projects only the listed items, with their own paths and modes", () => {
    assert.deepEqual(projectKeys("secret", data, [{ key: "b", path: "dir/bee", mode: 0o600 }], 0o644, false), [
      { path: "dir/bee", content: Buffer.from("B"), mode: 0o600 },
    ]);
  });

  it("fails on a missing key unless the source is optional", () => {
    assert.throws(() => projectKeys("configmap", data, [{ key: "z", path: "z" }], 0o644, false), MountError);
    assert.deepEqual(projectKeys("configmap", data, [{ key: "z", path: "z" }], 0o644, true), []);
  });

  it("writes files with their modes and never outside the volume", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "na-vol-"));
    try {
      const vol = path.join(dir, "vol");
      await writeProjection(vol, [
        { path: "key", content: Buffer.from("v"), mode: 0o400 },
        { path: "../../escape", content: Buffer.from("x"), mode: 0o644 },
      ]);
      assert.equal(await readFile(path.join(vol, "key"), "utf8"), "v");
      assert.equal((await stat(path.join(vol, "key"))).mode & 0o777, 0o400);
      assert.equal(await readFile(path.join(vol, "escape"), "utf8"), "x");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
