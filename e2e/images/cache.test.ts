import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { contentKey, pruneCache } from "./cache.ts";

describe("image cache", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "cache-test-"));
    mkdirSync(path.join(dir, "src/sub"), { recursive: true });
    writeFileSync(path.join(dir, "src/a.ts"), "a");
    writeFileSync(path.join(dir, "src/a.test.ts"), "test");
    writeFileSync(path.join(dir, "src/sub/b.ts"), "b");
    writeFileSync(path.join(dir, "bin"), "binary");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const key = () =>
    contentKey([
      { name: "src", dir: path.join(dir, "src"), include: (rel) => !rel.endsWith(".test.ts") },
      { name: "bin", file: path.join(dir, "bin") },
      { name: "npm", text: "11.0.0" },
    ]);

  it("changes with any input's content, name or a file added, and ignores what the filter leaves out", async () => {
    const base = await key();
    assert.match(base, /^[0-9a-f]{64}$/);
    assert.equal(await key(), base, "stable");
    writeFileSync(path.join(dir, "src/a.test.ts"), "another test");
    assert.equal(await key(), base, "a filtered-out file does not count");
    writeFileSync(path.join(dir, "src/sub/b.ts"), "b2");
    const changedTree = await key();
    assert.notEqual(changedTree, base);
    writeFileSync(path.join(dir, "src/sub/c.ts"), "");
    assert.notEqual(await key(), changedTree, "a new empty file counts");
    const renamed = await contentKey([{ name: "other", file: path.join(dir, "bin") }]);
    assert.notEqual(renamed, await contentKey([{ name: "bin", file: path.join(dir, "bin") }]));
  });

  it("prunes the least recently used entries beyond the ones to keep, sparing any used in the last hour", async () => {
    const old = Date.now() / 1000 - 2 * 3600;
    const files = ["img-1.tar", "img-2.tar", "img-3.tar", "img-4.tar", "other-1.tar"];
    files.forEach((f, i) => {
      writeFileSync(path.join(dir, f), "");
      utimesSync(path.join(dir, f), old + i, old + i);
    });
    const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
    utimesSync(path.join(dir, "img-1.tar"), minutesAgo(5), minutesAgo(5)); // the most recently used: kept
    utimesSync(path.join(dir, "img-2.tar"), minutesAgo(50), minutesAgo(50)); // beyond `keep`, but in use elsewhere
    await pruneCache(dir, /^img-\d\.tar$/, 1);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".tar")).sort(), ["img-1.tar", "img-2.tar", "other-1.tar"]);
  });
});
