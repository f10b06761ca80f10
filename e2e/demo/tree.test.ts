import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeSampleTree } from "./sample.ts";
import { describeTree, diffTrees, summarizeTree } from "./tree.ts";

describe("demo tree comparison", function () {
  let dir: string;
  let source: string;
  let copy: string;

  beforeEach(function () {
    dir = mkdtempSync(path.join(os.tmpdir(), "blobstash-tree-"));
    source = path.join(dir, "source");
    copy = path.join(dir, "copy");
    execFileSync("mkdir", [source]);
    writeSampleTree(source);
    // cp -a keeps modes, mtimes and symlinks: what a faithful restore does.
    execFileSync("cp", ["-a", source, copy]);
  });

  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it("describes the sample tree with every kind of entry it promises", function () {
    const tree = describeTree(source);
    const byPath = new Map(tree.map((e) => [e.path, e]));
    assert.equal(byPath.get("bin/backup-hook.sh")?.mode, "755");
    assert.equal(byPath.get("config/app.conf")?.mode, "444");
    assert.equal(byPath.get("private")?.type, "dir");
    assert.equal(byPath.get("private")?.mode, "700");
    assert.equal(byPath.get("data/empty")?.size, 0);
    assert.equal(byPath.get("data/empty-dir")?.type, "dir");
    assert.deepEqual(
      tree.filter((e) => e.type === "symlink").map((e) => [e.path, e.target]),
      [["links/dangling", "../no/such/file"], ["links/to-docs", "../docs"], ["links/to-readme", "../README.txt"]],
    );
    assert.equal(byPath.get("docs/notes.md")?.mtimeMs, Date.parse("2020-02-29T12:34:56Z"));
    assert.match(summarizeTree(tree), /^10 files \(19\d\.\d KiB\), 10 directories, 3 symlinks$/);
  });

  it("finds no difference between a tree and a faithful copy", function () {
    assert.deepEqual(diffTrees(describeTree(source), describeTree(copy)), []);
  });

  it("reports changed content, modes, link targets, mtimes, missing and extra entries", function () {
    writeFileSync(path.join(copy, "README.txt"), "tampered\n");
    utimesSync(path.join(copy, "README.txt"), new Date(Date.parse("2020-01-01T00:00:00Z")), new Date(Date.parse("2020-01-01T00:00:00Z")));
    chmodSync(path.join(copy, "bin/backup-hook.sh"), 0o644);
    unlinkSync(path.join(copy, "links/to-docs"));
    symlinkSync("../bin", path.join(copy, "links/to-docs"));
    rmSync(path.join(copy, "data/empty"));
    writeFileSync(path.join(copy, "stray.txt"), "");
    rmSync(path.join(copy, "private"), { recursive: true });
    writeFileSync(path.join(copy, "private"), "now a file");
    const expected = describeTree(source);
    const readmeMtime = new Date(expected.find((e) => e.path === "README.txt")!.mtimeMs!).toISOString();
    assert.deepEqual(diffTrees(expected, describeTree(copy)).sort(), [
      "README.txt: content differs (9 bytes, expected 78)",
      `README.txt: mtime 2020-01-01T00:00:00.000Z, expected ${readmeMtime}`,
      "bin/backup-hook.sh: mode 644, expected 755",
      "data/empty: missing (file)",
      "links/to-docs: points to ../bin, expected ../docs",
      "private/diary.txt: missing (file)",
      "private: is a file, expected a dir",
      "stray.txt: not in the source",
    ].sort());
  });
});
