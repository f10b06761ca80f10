// Test data in volumes, as a user would handle it on a real cluster: a tree is written into a PVC and
// read back by a pod of the toolbox image (busybox sh, stat, sha256sum), never through the host's
// view of the volume. A tree is data (TreeSpec) turned into a shell script; a volume is described by
// another script whose output parses into entries that two volumes can be compared by.

/** One entry to create, relative to the volume's root. */
export type SpecEntry =
  | { path: string; type: "file"; content?: string; randomBytes?: number; mode?: number; uid?: number; gid?: number; mtime?: string }
  | { path: string; type: "dir"; mode?: number; uid?: number; gid?: number }
  | { path: string; type: "symlink"; target: string; uid?: number; gid?: number }
  /** A second name for the file at `target` (a path in the same tree). */
  | { path: string; type: "hardlink"; target: string };

export interface TreeEntry {
  /** Relative to the tree's root, "/"-separated. */
  path: string;
  type: "file" | "dir" | "symlink" | "other";
  uid: number;
  gid: number;
  /** Permission bits in octal, e.g. "755" or "2775". */
  mode: string;
  size?: number;
  sha256?: string;
  target?: string;
  /** Files only, whole seconds since the epoch. */
  mtime?: number;
  /** Files only: how many names the file has (hard links). */
  links?: number;
}

/** Single-quoted for sh, safe for any byte but NUL. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** busybox touch -d takes "YYYY-MM-DD hh:mm:ss"; ISO times are turned into that (UTC, as the pod's TZ). */
function touchTime(iso: string): string {
  return new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, "");
}

/**
 * A shell script that creates `spec` under `root` (which exists): directories, then files, links,
 * then ownership and modes (so a mode that forbids writing does not stop the writer), mtimes last.
 */
export function writeTreeScript(root: string, spec: readonly SpecEntry[]): string {
  const at = (p: string) => shq(`${root}/${p}`);
  const parent = (p: string) => (p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "");
  const lines = ["set -eu", `cd ${shq(root)}`];
  const dirs = new Set<string>();
  for (const e of spec) {
    const d = e.type === "dir" ? e.path : parent(e.path);
    if (d) dirs.add(d);
  }
  for (const d of [...dirs].sort()) lines.push(`mkdir -p ${at(d)}`);
  for (const e of spec) {
    if (e.type === "file") {
      if (e.randomBytes !== undefined) lines.push(`head -c ${e.randomBytes} /dev/urandom > ${at(e.path)}`);
      else lines.push(`printf '%s' ${shq(e.content ?? "")} > ${at(e.path)}`);
    }
  }
  for (const e of spec) {
    if (e.type === "symlink") lines.push(`ln -s ${shq(e.target)} ${at(e.path)}`);
    if (e.type === "hardlink") lines.push(`ln ${at(e.target)} ${at(e.path)}`);
  }
  // Deepest first, so a directory's own mode (say 0700 for another owner) is set after its contents.
  const deepestFirst = [...spec].sort((a, b) => b.path.split("/").length - a.path.split("/").length);
  for (const e of deepestFirst) {
    if (e.type === "hardlink") continue;
    if (e.uid !== undefined || e.gid !== undefined) lines.push(`chown -h ${e.uid ?? 0}:${e.gid ?? 0} ${at(e.path)}`);
    if ((e.type === "file" || e.type === "dir") && e.mode !== undefined) lines.push(`chmod ${e.mode.toString(8)} ${at(e.path)}`);
  }
  for (const e of spec) if (e.type === "file" && e.mtime) lines.push(`touch -d ${shq(touchTime(e.mtime))} ${at(e.path)}`);
  lines.push("sync");
  return lines.join("\n") + "\n";
}

/** Prints one line per entry below `root`: path, then tab-separated type, uid, gid, mode, size, mtime, links, sha256 or target. */
export function describeTreeScript(root: string): string {
  return [
    "set -eu",
    `cd ${shq(root)}`,
    "find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do",
    "  t=$(stat -c '%F' \"$p\")",
    "  meta=$(stat -c '%u\t%g\t%a\t%s\t%Y\t%h' \"$p\")",
    "  case \"$t\" in",
    "    'symbolic link') printf '%s\\tsymlink\\t%s\\t%s\\n' \"$p\" \"$meta\" \"$(readlink \"$p\")\" ;;",
    "    directory) printf '%s\\tdir\\t%s\\t\\n' \"$p\" \"$meta\" ;;",
    "    'regular file'|'regular empty file') printf '%s\\tfile\\t%s\\t%s\\n' \"$p\" \"$meta\" \"$(sha256sum \"$p\" | cut -d' ' -f1)\" ;;",
    "    *) printf '%s\\tother\\t%s\\t\\n' \"$p\" \"$meta\" ;;",
    "  esac",
    "done",
  ].join("\n") + "\n";
}

/** Parses describeTreeScript's output. */
export function parseTree(output: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  for (const line of output.split("\n")) {
    if (!line.startsWith("./")) continue;
    const [p, type, uid, gid, mode, size, mtime, links, last] = line.split("\t");
    const entry: TreeEntry = { path: p!.slice(2), type: type as TreeEntry["type"], uid: Number(uid), gid: Number(gid), mode: mode! };
    if (entry.type === "file") Object.assign(entry, { size: Number(size), mtime: Number(mtime), links: Number(links), sha256: last });
    if (entry.type === "symlink") entry.target = last;
    out.push(entry);
  }
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
    if (a.uid !== e.uid || a.gid !== e.gid) problems.push(`${p}: owner ${a.uid}:${a.gid}, expected ${e.uid}:${e.gid}`);
    // A symlink's own mode is always 777 on Linux; nothing restores it.
    if (e.type !== "symlink" && a.mode !== e.mode) problems.push(`${p}: mode ${a.mode}, expected ${e.mode}`);
    if (e.type === "symlink" && a.target !== e.target) problems.push(`${p}: points to ${a.target}, expected ${e.target}`);
    if (e.type === "file") {
      if (a.sha256 !== e.sha256) problems.push(`${p}: content differs (${a.size} bytes, expected ${e.size})`);
      if (a.mtime !== e.mtime) problems.push(`${p}: mtime ${iso(a.mtime)}, expected ${iso(e.mtime)}`);
      if (a.links !== e.links) problems.push(`${p}: ${a.links} hard links, expected ${e.links}`);
    }
  }
  for (const p of got.keys()) if (!want.has(p)) problems.push(`${p}: not in the source`);
  return problems;
}

function iso(s: number | undefined): string {
  return s === undefined ? "none" : new Date(s * 1000).toISOString();
}

/** "12 files (263.4 KiB), 6 directories, 3 symlinks" */
export function summarizeTree(entries: readonly TreeEntry[]): string {
  const count = (t: TreeEntry["type"]) => entries.filter((e) => e.type === t).length;
  const bytes = entries.reduce((n, e) => n + (e.size ?? 0), 0);
  const size = bytes < 1024 ? `${bytes} B` : bytes < 1 << 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${count("file")} files (${size}), ${count("dir")} directories, ${count("symlink")} symlinks`;
}
