// Test data for backups: a directory tree with what real volumes hold (empty files, a large file,
// hundreds of small ones, unicode names, symlinks, hard links, deep nesting, unusual modes and
// owners, old mtimes), as a spec a toolbox pod writes into a PVC (e2e/support/toolbox.ts).

import type { SpecEntry, TreeEntry } from "../support/tree.ts";

/** The mixed tree: `bigMiB` of random data in one file and `smallFiles` small ones beside it. */
export function mixedTree(o: { bigMiB: number; smallFiles: number }): SpecEntry[] {
  const spec: SpecEntry[] = [
    { path: "empty", type: "file", content: "" },
    { path: "nested/empty-too", type: "file", content: "" },
    { path: "big/blob.bin", type: "file", randomBytes: o.bigMiB << 20 },
    { path: "ünïcødé/файл.txt", type: "file", content: "кириллица\n" },
    { path: "日本語 ディレクトリ/ファイル 名前.md", type: "file", content: "# 日本語\n" },
    { path: "emoji 🎉/naïve café.bin", type: "file", randomBytes: 1000 },
    { path: "spaces and 'quotes'/\"double\" & $dollar.txt", type: "file", content: "odd names\n" },
    { path: "a/b/c/d/e/f/g/h/deep.txt", type: "file", content: "deep\n" },
    { path: "modes/exec.sh", type: "file", content: "#!/bin/sh\necho hi\n", mode: 0o755 },
    { path: "modes/private", type: "file", content: "secret-ish\n", mode: 0o600 },
    // A fixed old mtime proves restored times come from the snapshot, not from the restore.
    { path: "modes/readonly", type: "file", content: "ro\n", mode: 0o444, mtime: "2001-02-03T04:05:06Z" },
    { path: "modes/setgid-tool", type: "file", content: "x\n", mode: 0o2755 },
    { path: "modes/private-dir", type: "dir", mode: 0o700 },
    { path: "modes/private-dir/inside", type: "file", content: "inside\n", mode: 0o640 },
    { path: "modes/sticky-dir", type: "dir", mode: 0o1777 },
    { path: "modes/empty-dir", type: "dir" },
    { path: "link-to-big", type: "symlink", target: "big/blob.bin" },
    { path: "link-to-dir", type: "symlink", target: "many" },
    { path: "nested/unicode-link", type: "symlink", target: "../ünïcødé/файл.txt" },
    { path: "dangling-absolute", type: "symlink", target: "/nonexistent/target" },
    { path: "nested/hard-link-to-exec", type: "hardlink", target: "modes/exec.sh" },
    // Other owners, as application volumes hold them (a database's 0700 directory of uid 999, a
    // 0400 file inside it, an app's 0640 log, nobody's file, a setgid group directory).
    { path: "owners/postgres-data", type: "dir", mode: 0o700, uid: 999, gid: 999 },
    { path: "owners/postgres-data/PG_VERSION", type: "file", content: "16\n", mode: 0o400, uid: 999, gid: 999 },
    { path: "owners/app.log", type: "file", content: "started\n", mode: 0o640, uid: 1000, gid: 1000, mtime: "2010-06-07T08:09:10Z" },
    { path: "owners/nobody.txt", type: "file", content: "nobody's\n", mode: 0o600, uid: 65534, gid: 65534 },
    { path: "owners/team", type: "dir", mode: 0o2775, uid: 0, gid: 1000 },
  ];
  for (let i = 0; i < o.smallFiles; i++) spec.push({ path: `many/d${i % 12}/f${i}.txt`, type: "file", randomBytes: (i * 997) % 4096 });
  return spec;
}

/** Counts of a described tree, to compare with what restic reports. */
export function summarize(entries: readonly TreeEntry[]): { files: number; symlinks: number; dirs: number; bytes: number } {
  return {
    files: entries.filter((e) => e.type === "file").length,
    symlinks: entries.filter((e) => e.type === "symlink").length,
    dirs: entries.filter((e) => e.type === "dir").length,
    bytes: entries.reduce((n, e) => n + (e.size ?? 0), 0),
  };
}
