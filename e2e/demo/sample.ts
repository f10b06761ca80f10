// The sample data the demo backs up: small, but with what a restore can get wrong — nested and
// empty directories, unusual names, an executable, read-only and private modes, files of other
// owners, an empty file, a binary blob, a hard link, and relative, directory and dangling symlinks.
// A spec that a toolbox pod writes into the source PVC (e2e/support/toolbox.ts).
import type { SpecEntry } from "../support/tree.ts";

export function sampleTree(): SpecEntry[] {
  return [
    { path: "README.txt", type: "file", content: "Sample data for the blobstash demo. Every byte, mode, owner and link must come back.\n" },
    // A fixed past mtime: a restore that sets "now" instead of the snapshot's time shows up.
    { path: "docs/notes.md", type: "file", content: "# Notes\n\nUTF-8 survives: Grüße, 日本語, emoji 🗄️\n", mtime: "2020-02-29T12:34:56Z" },
    { path: "docs/name with spaces & ümlauts.txt", type: "file", content: "a file name restic must quote nowhere\n" },
    { path: "bin/backup-hook.sh", type: "file", content: "#!/bin/sh\necho hook\n", mode: 0o755 },
    { path: "config/app.conf", type: "file", content: "read_only = true\n", mode: 0o444 },
    { path: "config/credentials.ini", type: "file", content: "owner-only file of uid 999\n", mode: 0o600, uid: 999, gid: 999 },
    { path: "data/random.bin", type: "file", randomBytes: 192 * 1024, uid: 1000, gid: 1000 },
    { path: "data/empty", type: "file", content: "" },
    { path: "data/nested/deep/deeper/leaf.txt", type: "file", content: "four levels down\n" },
    { path: "data/empty-dir", type: "dir" },
    { path: "private", type: "dir", mode: 0o700, uid: 999, gid: 999 },
    { path: "private/diary.txt", type: "file", content: "in a directory only its owner may enter\n", mode: 0o600, uid: 999, gid: 999 },
    { path: "shared", type: "dir", mode: 0o2775, gid: 1000 },
    { path: "shared/same-as-readme.txt", type: "hardlink", target: "README.txt" },
    { path: "links/to-readme", type: "symlink", target: "../README.txt" },
    { path: "links/to-docs", type: "symlink", target: "../docs" },
    { path: "links/dangling", type: "symlink", target: "../no/such/file" },
  ];
}
