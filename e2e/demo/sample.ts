// The sample data the demo backs up: small, but with what a restore can get wrong — nested and
// empty directories, unusual names, an executable, read-only and private modes, an empty file, a
// binary blob, and relative, directory and dangling symlinks. Self-contained (node: imports only)
// so kind pods write the same tree (tree-cli.ts).
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";

interface SampleFile {
  path: string;
  content: string | Buffer;
  mode?: number;
}

/** Writes the sample tree into root (which may exist and must be empty). Returns the number of entries written. */
export function writeSampleTree(root: string): number {
  const files: SampleFile[] = [
    { path: "README.txt", content: "Sample data for the blobstash demo. Every byte, mode and link must come back.\n" },
    { path: "docs/notes.md", content: "# Notes\n\nUTF-8 survives: Grüße, 日本語, emoji 🗄️\n" },
    { path: "docs/name with spaces & ümlauts.txt", content: "a file name restic must quote nowhere\n" },
    { path: "bin/backup-hook.sh", content: "#!/bin/sh\necho hook\n", mode: 0o755 },
    { path: "config/app.conf", content: "read_only = true\n", mode: 0o444 },
    { path: "config/credentials.ini", content: "owner-only file\n", mode: 0o600 },
    { path: "data/random.bin", content: randomBytes(192 * 1024) },
    { path: "data/empty", content: "" },
    { path: "data/nested/deep/deeper/leaf.txt", content: "four levels down\n" },
    { path: "private/diary.txt", content: "in a directory only its owner may enter\n" },
  ];
  for (const f of files) {
    const abs = path.join(root, f.path);
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, f.content);
    if (f.mode !== undefined) chmodSync(abs, f.mode);
  }
  // A fixed past mtime on one file: a restore that sets "now" instead of the snapshot's time shows up.
  utimesSync(path.join(root, "docs/notes.md"), new Date("2020-02-29T12:34:56Z"), new Date("2020-02-29T12:34:56Z"));
  mkdirSync(path.join(root, "data/empty-dir"), { recursive: true });
  mkdirSync(path.join(root, "links"), { recursive: true });
  symlinkSync("../README.txt", path.join(root, "links/to-readme"));
  symlinkSync("../docs", path.join(root, "links/to-docs"));
  symlinkSync("../no/such/file", path.join(root, "links/dangling"));
  chmodSync(path.join(root, "private"), 0o700);
  return files.length + 3;
}
