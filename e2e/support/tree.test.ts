// The tree scripts run here with Debian's static busybox, the same program the toolbox image holds,
// so what the e2e tests do in pods is checked in milliseconds.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { sampleTree } from "../demo/sample.ts";
import { describeTreeScript, diffTrees, parseTree, summarizeTree, writeTreeScript, type TreeEntry } from "./tree.ts";

const sh = (script: string) => execFileSync("/bin/busybox", ["sh", "-c", script], { encoding: "utf8" });
const describe_ = (root: string): TreeEntry[] => parseTree(sh(describeTreeScript(root)));

describe("e2e/support/tree: writing and describing trees with busybox", function () {
  let dir: string;
  let source: string;
  let copy: string;

  beforeEach(function () {
    dir = mkdtempSync(path.join(os.tmpdir(), "blobstash-tree-"));
    source = path.join(dir, "source");
    copy = path.join(dir, "copy");
    mkdirSync(source);
    sh(writeTreeScript(source, sampleTree()));
    // cp -a keeps owners, modes, mtimes, links: what a faithful restore does.
    execFileSync("cp", ["-a", source, copy]);
  });

  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes every kind of entry the spec promises, with owners, modes, mtimes and links", function () {
    const tree = describe_(source);
    const at = new Map(tree.map((e) => [e.path, e]));
    assert.equal(at.get("bin/backup-hook.sh")?.mode, "755");
    assert.equal(at.get("config/app.conf")?.mode, "444");
    assert.deepEqual([at.get("config/credentials.ini")?.uid, at.get("config/credentials.ini")?.gid, at.get("config/credentials.ini")?.mode], [999, 999, "600"]);
    assert.deepEqual([at.get("private")?.type, at.get("private")?.mode, at.get("private")?.uid], ["dir", "700", 999]);
    assert.equal(at.get("shared")?.mode, "2775");
    assert.equal(at.get("data/random.bin")?.size, 192 * 1024);
    assert.equal(at.get("data/empty")?.size, 0);
    assert.equal(at.get("docs/notes.md")?.mtime, Date.parse("2020-02-29T12:34:56Z") / 1000);
    assert.equal(at.get("README.txt")?.links, 2);
    assert.equal(at.get("shared/same-as-readme.txt")?.sha256, at.get("README.txt")?.sha256);
    assert.equal(at.get("docs/name with spaces & ümlauts.txt")?.type, "file");
    assert.deepEqual(
      tree.filter((e) => e.type === "symlink").map((e) => [e.path, e.target]),
      [["links/dangling", "../no/such/file"], ["links/to-docs", "../docs"], ["links/to-readme", "../README.txt"]],
    );
    assert.match(summarizeTree(tree), /^11 files \(192\.\d KiB\), 11 directories, 3 symlinks$/);
  });

  it("finds a faithful copy equal", function () {
    assert.deepEqual(diffTrees(describe_(source), describe_(copy)), []);
  });

  it("names each difference: content, mode, owner, mtime, link target, hard links, missing and extra entries", function () {
    writeFileSync(path.join(copy, "data/empty"), "x");
    chmodSync(path.join(copy, "bin/backup-hook.sh"), 0o644);
    chownSync(path.join(copy, "config/credentials.ini"), 0, 0);
    utimesSync(path.join(copy, "docs/notes.md"), new Date(), new Date());
    rmSync(path.join(copy, "links/to-docs"));
    execFileSync("ln", ["-s", "../elsewhere", path.join(copy, "links/to-docs")]);
    rmSync(path.join(copy, "shared/same-as-readme.txt"));
    writeFileSync(path.join(copy, "shared/same-as-readme.txt"), "");
    rmSync(path.join(copy, "data/nested"), { recursive: true });
    writeFileSync(path.join(copy, "extra.txt"), "not in the source\n");
    const problems = diffTrees(describe_(source), describe_(copy)).join("\n");
    for (const expected of [
      /^data\/empty: content differs/m,
      /^bin\/backup-hook\.sh: mode 644, expected 755/m,
      /^config\/credentials\.ini: owner 0:0, expected 999:999/m,
      /^docs\/notes\.md: mtime .*, expected 2020-02-29T12:34:56\.000Z/m,
      /^links\/to-docs: points to \.\.\/elsewhere, expected \.\.\/docs/m,
      /^README\.txt: 1 hard links, expected 2/m,
      /^data\/nested: missing \(dir\)/m,
      /^extra\.txt: not in the source/m,
    ]) assert.match(problems, expected);
  });
});
