// Pieces of a root filesystem taken from this machine: a dynamically linked program with the shared
// libraries and loader it needs, a directory tree, the accounts files. Everything is root-owned with
// normalised modes, so what lands in a layer depends on file content, not on the host's umask.
import { execFile } from "node:child_process";
import { accessSync, constants, lstatSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { TarEntry } from "./tar.ts";

const run = promisify(execFile);

/**
 * The files `ldd` names for a program: each `name => /path` library and the loader. The vDSO has no
 * file; a library ldd could not find is an error (the image would fail at its first start).
 */
export function parseLdd(output: string): string[] {
  const files: string[] = [];
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("linux-vdso") || line.startsWith("linux-gate")) continue;
    if (/not a dynamic executable|statically linked/.test(line)) return [];
    const arrow = /^(\S+) => (.*)$/.exec(line);
    if (arrow) {
      if (arrow[2]!.startsWith("not found")) throw new Error(`ldd: ${arrow[1]} not found`);
      const file = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(arrow[2]!)?.[1];
      if (!file) throw new Error(`ldd: cannot read "${line}"`);
      files.push(file);
      continue;
    }
    const loader = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line)?.[1];
    if (!loader) throw new Error(`ldd: cannot read "${line}"`);
    files.push(loader);
  }
  return files;
}

/** What `ldd` names for a program; nothing for a static one (ldd then fails, saying so). */
export async function sharedLibraries(program: string): Promise<string[]> {
  try {
    const { stdout } = await run("ldd", [program], { encoding: "utf8" });
    return parseLdd(stdout);
  } catch (err) {
    const out = err as { stdout?: string; stderr?: string };
    if (/not a dynamic executable/.test(`${out.stdout ?? ""}${out.stderr ?? ""}`)) return [];
    throw err;
  }
}

/** Refuses a dynamically linked program where an image has no libraries to give it. */
export async function requireStatic(program: string, why: string): Promise<void> {
  const libraries = await sharedLibraries(program);
  if (libraries.length > 0) throw new Error(`${program} is dynamically linked (${libraries.join(", ")}); ${why}`);
}

/**
 * Where a host file goes in the image: the same path with its directory resolved, so on a merged-/usr
 * host `/lib/x86_64-linux-gnu/libc.so.6` lands at `/usr/lib/x86_64-linux-gnu/libc.so.6` and the image
 * reaches it through the same `lib -> usr/lib` link as the host (see mergedUsrLinks).
 */
export function imagePathOf(hostFile: string): string {
  return path.join(realpathSync(path.dirname(hostFile)), path.basename(hostFile));
}

/** The top-level links of a merged-/usr host (`bin -> usr/bin`, ...), which library paths go through. */
export function mergedUsrLinks(root = "/"): TarEntry[] {
  const links: TarEntry[] = [];
  for (const dir of ["bin", "lib", "lib64", "sbin"]) {
    const p = path.join(root, dir);
    try {
      if (lstatSync(p).isSymbolicLink()) links.push({ type: "symlink", path: dir, target: readlinkSync(p) });
    } catch {
      // absent on this host: nothing goes through it
    }
  }
  return links;
}

/** A program and every file its dynamic linking needs, at the paths it will look for them. */
export async function programWithLibraries(hostProgram: string, imagePath: string): Promise<TarEntry[]> {
  const libraries = await sharedLibraries(hostProgram);
  return [
    { type: "file", path: imagePath, content: hostProgram, mode: 0o755 },
    ...libraries.map((lib): TarEntry => ({ type: "file", path: imagePathOf(lib), content: lib, mode: 0o755 })),
  ];
}

/** A program's path as the shell would find it on PATH. */
export function onPath(name: string): string {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir || ".", name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} is not on PATH`);
}

/** Merges lists that may name the same shared library twice (two programs need libc). */
export function uniqueEntries(entries: TarEntry[]): TarEntry[] {
  const byPath = new Map<string, TarEntry>();
  for (const e of entries) {
    const key = path.posix.normalize(`/${e.path}`);
    const seen = byPath.get(key);
    if (seen && JSON.stringify(seen) !== JSON.stringify(e)) throw new Error(`${key} comes from two places: ${JSON.stringify(seen)} and ${JSON.stringify(e)}`);
    byPath.set(key, e);
  }
  return [...byPath.values()];
}

/**
 * A host directory's tree under `imageDir`: directories 0755, files 0755 when the owner may execute
 * them and 0644 otherwise, symlinks as they are. Other kinds (sockets, devices) are an error.
 */
export async function directoryTree(hostDir: string, imageDir: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [{ type: "dir", path: imageDir }];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(hostDir, rel))).sort()) {
      const relChild = path.join(rel, name);
      const host = path.join(hostDir, relChild);
      const target = path.posix.join(imageDir, relChild);
      const st = await lstat(host);
      if (st.isDirectory()) {
        entries.push({ type: "dir", path: target });
        await walk(relChild);
      } else if (st.isFile()) {
        entries.push({ type: "file", path: target, content: host, mode: st.mode & 0o100 ? 0o755 : 0o644 });
      } else if (st.isSymbolicLink()) {
        entries.push({ type: "symlink", path: target, target: await readlink(host) });
      } else {
        throw new Error(`${host}: neither a file, a directory nor a symlink`);
      }
    }
  };
  await walk("");
  return entries;
}

export interface Account {
  name: string;
  uid: number;
  home: string;
  shell: string;
}

/** /etc/passwd and /etc/group with one group per account, of the same id and name. */
export function accountFiles(accounts: Account[]): TarEntry[] {
  const passwd = accounts.map((a) => `${a.name}:x:${a.uid}:${a.uid}:${a.name}:${a.home}:${a.shell}\n`).join("");
  const group = accounts.map((a) => `${a.name}:x:${a.uid}:\n`).join("");
  return [
    { type: "file", path: "etc/passwd", content: Buffer.from(passwd) },
    { type: "file", path: "etc/group", content: Buffer.from(group) },
  ];
}

/** A world-writable scratch directory with the sticky bit, as /tmp is everywhere. */
export const TMP: TarEntry = { type: "dir", path: "tmp", mode: 0o1777 };
