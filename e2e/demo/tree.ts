// A directory tree as data, to prove that a restore gave back exactly what was backed up: every
// entry's type, permission bits, content (sha256), symlink target and file mtime. Self-contained
// (node: imports only) so that kind pods run it too (tree-cli.ts), not only the local demo.
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import path from "node:path";

export interface TreeEntry {
  /** Relative to the tree's root, "/"-separated. */
  path: string;
  type: "file" | "dir" | "symlink" | "other";
  /** Permission bits in octal, e.g. "755". */
  mode: string;
  size?: number;
  sha256?: string;
  target?: string;
  /** Files only, whole milliseconds (restic keeps nanoseconds; not every file system does). */
  mtimeMs?: number;
}

/** Every entry below root (root itself excluded: it is the volume, not the data), sorted by path. */
export function describeTree(root: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      const relPath = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, relPath);
      const st = lstatSync(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) {
        out.push({ path: relPath, type: "symlink", mode, target: readlinkSync(abs) });
      } else if (st.isDirectory()) {
        out.push({ path: relPath, type: "dir", mode });
        walk(relPath);
      } else if (st.isFile()) {
        const sha256 = createHash("sha256").update(readFileSync(abs)).digest("hex");
        out.push({ path: relPath, type: "file", mode, size: st.size, sha256, mtimeMs: Math.floor(st.mtimeMs) });
      } else {
        out.push({ path: relPath, type: "other", mode });
      }
    }
  };
  walk("");
  return out;
}

/** Human-readable differences between two described trees; empty when they are equal. */
export function diffTrees(expected: readonly TreeEntry[], actual: readonly TreeEntry[]): string[] {
  const want = new Map(expected.map((e) => [e.path, e]));
  const got = new Map(actual.map((e) => [e.path, e]));
  const problems: string[] = [];
  for (const [p, e] of want) {
    const a = got.get(p);
    if (!a) {
      problems.push(`${p}: missing (${e.type})`);
      continue;
    }
    if (a.type !== e.type) {
      problems.push(`${p}: is a ${a.type}, expected a ${e.type}`);
      continue;
    }
    if (a.mode !== e.mode) problems.push(`${p}: mode ${a.mode}, expected ${e.mode}`);
    if (e.type === "symlink" && a.target !== e.target) problems.push(`${p}: points to ${a.target}, expected ${e.target}`);
    if (e.type === "file") {
      if (a.sha256 !== e.sha256) problems.push(`${p}: content differs (${a.size} bytes, expected ${e.size})`);
      if (a.mtimeMs !== e.mtimeMs) problems.push(`${p}: mtime ${iso(a.mtimeMs)}, expected ${iso(e.mtimeMs)}`);
    }
  }
  for (const p of got.keys()) if (!want.has(p)) problems.push(`${p}: not in the source`);
  return problems;
}

function iso(ms: number | undefined): string {
  return ms === undefined ? "none" : new Date(ms).toISOString();
}

/** "12 files (263.4 KiB), 6 directories, 3 symlinks" */
export function summarizeTree(entries: readonly TreeEntry[]): string {
  const count = (t: TreeEntry["type"]) => entries.filter((e) => e.type === t).length;
  const bytes = entries.reduce((n, e) => n + (e.size ?? 0), 0);
  const size = bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
  return `${count("file")} files (${size}), ${count("dir")} directories, ${count("symlink")} symlinks`;
}
