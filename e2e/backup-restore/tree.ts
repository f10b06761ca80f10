// Test data for backups: a directory tree with what real volumes hold (empty files, a large file,
// hundreds of small ones, unicode names, symlinks, deep nesting, unusual modes) and a manifest that
// says everything a restore must bring back, to compare two trees in one assertion.

import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, lstat, mkdir, open, readdir, readlink, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";

export interface Entry {
  type: "file" | "dir" | "symlink";
  /** Permission bits (including setuid/setgid/sticky). */
  mode: string;
  size?: number;
  sha256?: string;
  target?: string;
  /** Regular files only: restic restores modification times. */
  mtimeMs?: number;
}

export type Manifest = Record<string, Entry>;

/** Writes `bytes` of incompressible data to file, in 1 MiB chunks. */
export async function writeRandomFile(file: string, bytes: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const fh = await open(file, "w");
  try {
    const chunk = 1 << 20;
    for (let done = 0; done < bytes; done += chunk) await fh.write(randomBytes(Math.min(chunk, bytes - done)));
  } finally {
    await fh.close();
  }
}

/** The mixed tree under root (which must exist). */
export async function writeMixedTree(root: string, o: { bigMiB: number; smallFiles: number }): Promise<void> {
  const at = (...p: string[]) => path.join(root, ...p);
  const file = async (rel: string, data: string | Buffer, mode = 0o644) => {
    await mkdir(path.dirname(at(rel)), { recursive: true });
    await writeFile(at(rel), data);
    await chmod(at(rel), mode);
  };
  await file("empty", "");
  await file("nested/empty-too", "");
  await writeRandomFile(at("big", "blob.bin"), o.bigMiB << 20);
  for (let i = 0; i < o.smallFiles; i++) {
    await file(path.join("many", `d${i % 12}`, `f${i}.txt`), randomBytes(Math.floor(Math.random() * 4096)));
  }
  await file("ünïcødé/файл.txt", "кириллица\n");
  await file("日本語 ディレクトリ/ファイル 名前.md", "# 日本語\n");
  await file("emoji 🎉/naïve café.bin", randomBytes(1000));
  await file("spaces and 'quotes'/\"double\" & $dollar.txt", "odd names\n");
  await file("a/b/c/d/e/f/g/h/deep.txt", "deep\n");
  await file("modes/exec.sh", "#!/bin/sh\necho hi\n", 0o755);
  await file("modes/private", "secret-ish\n", 0o600);
  await file("modes/readonly", "ro\n", 0o444);
  await file("modes/setgid-tool", "x\n", 0o2755);
  await mkdir(at("modes/private-dir"), { recursive: true });
  await file("modes/private-dir/inside", "inside\n", 0o640);
  await chmod(at("modes/private-dir"), 0o700);
  await mkdir(at("modes/sticky-dir"), { recursive: true });
  await chmod(at("modes/sticky-dir"), 0o1777);
  await mkdir(at("modes/empty-dir"), { recursive: true });
  await symlink("big/blob.bin", at("link-to-big"));
  await symlink("many", at("link-to-dir"));
  await symlink("../ünïcødé/файл.txt", at("nested/unicode-link"));
  await symlink("/nonexistent/target", at("dangling-absolute"));
  // A fixed old mtime proves restored times come from the snapshot, not from the restore.
  await utimes(at("modes/readonly"), new Date("2001-02-03T04:05:06Z"), new Date("2001-02-03T04:05:06Z"));
}

async function sha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** relative path -> what it is, for every entry under root (root itself excluded). */
export async function manifest(root: string): Promise<Manifest> {
  const out: Manifest = {};
  const walk = async (dir: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      const s = await lstat(full);
      const mode = (s.mode & 0o7777).toString(8).padStart(4, "0");
      if (s.isSymbolicLink()) out[rel] = { type: "symlink", mode, target: await readlink(full) };
      else if (s.isDirectory()) {
        out[rel] = { type: "dir", mode };
        await walk(full);
      } else if (s.isFile()) out[rel] = { type: "file", mode, size: s.size, sha256: await sha256(full), mtimeMs: Math.floor(s.mtimeMs) };
      else throw new Error(`unexpected file type at ${full}`);
    }
  };
  await walk(root);
  return out;
}

/** Counts of a manifest, to compare with what restic reports. */
export function summarize(m: Manifest): { files: number; symlinks: number; dirs: number; bytes: number } {
  const entries = Object.values(m);
  return {
    files: entries.filter((e) => e.type === "file").length,
    symlinks: entries.filter((e) => e.type === "symlink").length,
    dirs: entries.filter((e) => e.type === "dir").length,
    bytes: entries.reduce((n, e) => n + (e.size ?? 0), 0),
  };
}
