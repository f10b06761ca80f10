// An image's content key: sha256 over what it is made of (the recipe's own source, the files and
// directory trees it takes, any text that changes the result). Equal keys mean equal images, so a
// cached archive with the key in its name is reused and anything else is rebuilt.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink, rm, stat, utimes } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export type KeyInput =
  | { name: string; file: string }
  /** Every file under `dir` whose path relative to it `include` accepts (all, without it). */
  | { name: string; dir: string; include?: (relativePath: string) => boolean }
  | { name: string; text: string };

/** The cache every tool and image lives in, as e2e/tools/install.sh places it. */
export function cacheRoot(): string {
  return process.env.BLOBSTASH_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "blobstash");
}

export function imagesDir(): string {
  return path.join(cacheRoot(), "images");
}

export async function fileDigest(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function treeLines(dir: string, include: (rel: string) => boolean): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const relChild = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, relChild);
      const st = await lstat(full);
      if (st.isDirectory()) await walk(relChild);
      else if (!include(relChild)) continue;
      else if (st.isSymbolicLink()) lines.push(`${relChild} -> ${await readlink(full)}`);
      else lines.push(`${relChild} ${(st.mode & 0o100) !== 0 ? "x" : "-"} ${await fileDigest(full)}`);
    }
  };
  await walk("");
  return lines;
}

/** sha256 (hex) over the inputs, each named, in the order given. */
export async function contentKey(inputs: KeyInput[]): Promise<string> {
  const hash = createHash("sha256");
  for (const input of inputs) {
    let lines: string[];
    if ("text" in input) lines = [input.text];
    else if ("file" in input) lines = [await fileDigest(input.file)];
    else lines = await treeLines(input.dir, input.include ?? (() => true));
    hash.update(`${JSON.stringify(input.name)}\n${lines.join("\n")}\n\n`);
  }
  return hash.digest("hex");
}

/**
 * Marks a cache entry as used now. Pruning goes by this time, so an entry another checkout (another
 * worktree sharing the cache, or a cluster importing it right now) just used is never removed.
 */
export async function touch(file: string): Promise<void> {
  const now = new Date();
  await utimes(file, now, now);
}

const RECENT_MS = 60 * 60 * 1000;

/**
 * Removes the entries of `dir` that `pattern` matches beyond the `keep` most recently used, sparing
 * any used within the last hour: other checkouts share the cache and may have different keys.
 */
export async function pruneCache(dir: string, pattern: RegExp, keep: number): Promise<void> {
  const entries = await Promise.all(
    (await readdir(dir)).filter((n) => pattern.test(n)).map(async (n) => ({ file: path.join(dir, n), used: (await stat(path.join(dir, n))).mtimeMs })),
  );
  entries.sort((a, b) => b.used - a.used);
  for (const e of entries.slice(keep)) {
    if (Date.now() - e.used > RECENT_MS) await rm(e.file, { recursive: true, force: true });
  }
}
