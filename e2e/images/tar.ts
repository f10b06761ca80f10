// A reproducible tar writer: the same entries give the same bytes, whatever the host's clock, umask,
// owners or file order. Every entry has mtime 0 and numeric owners; names longer than ustar's fields
// go in a PAX header (what GNU tar does with --format=posix). Content is streamed, so a 120 MB node
// binary never sits in memory.
import { createHash, type Hash } from "node:crypto";
import { open, stat } from "node:fs/promises";

/** Where tar bytes go: a file, a hash, or both. */
export interface Sink {
  write(chunk: Uint8Array): Promise<void>;
}

/** Content produced on demand (a layer written into the archive that holds it), of a known size. */
export interface Generated {
  size: number;
  writeTo(sink: Sink): Promise<void>;
}

/** A file's content: a host file (read when written), bytes, or generated. */
export type Content = string | Uint8Array | Generated;

export type TarEntry =
  | { type: "dir"; path: string; mode?: number; uid?: number; gid?: number }
  | { type: "file"; path: string; content: Content; mode?: number; uid?: number; gid?: number }
  | { type: "symlink"; path: string; target: string; uid?: number; gid?: number };

const BLOCK = 512;
const CHUNK = 1 << 20;

/** `/usr/bin/env`, `usr/bin/env/` and `./usr/bin/env` all name `usr/bin/env` in an archive. */
export function entryName(p: string): string {
  const name = p.split("/").filter((s) => s !== "" && s !== ".").join("/");
  if (name === "" || name.split("/").includes("..")) throw new Error(`not a path inside an archive: "${p}"`);
  return name;
}

export class HashSink implements Sink {
  readonly hash: Hash = createHash("sha256");
  size = 0;
  write(chunk: Uint8Array): Promise<void> {
    this.hash.update(chunk);
    this.size += chunk.length;
    return Promise.resolve();
  }
  digest(): string {
    return `sha256:${this.hash.digest("hex")}`;
  }
}

/** Writes to every sink in turn (the archive file and a hash that checks what went into it). */
export function teeSink(...sinks: Sink[]): Sink {
  return {
    async write(chunk) {
      for (const s of sinks) await s.write(chunk);
    },
  };
}

async function contentSize(content: Content): Promise<number> {
  if (typeof content === "string") return (await stat(content)).size;
  return content instanceof Uint8Array ? content.length : content.size;
}

async function writeContent(content: Content, size: number, sink: Sink): Promise<void> {
  if (content instanceof Uint8Array) return sink.write(content);
  if (typeof content !== "string") {
    const counter = new HashSink();
    await content.writeTo(teeSink(counter, sink));
    if (counter.size !== size) throw new Error(`generated content wrote ${counter.size} bytes, announced ${size}`);
    return;
  }
  const fh = await open(content, "r");
  try {
    let done = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size - done, 1)));
      const { bytesRead } = await fh.read(buf, 0, buf.length, done);
      if (bytesRead === 0) break;
      if (done + bytesRead > size) throw new Error(`${content} grew while it was being archived`);
      await sink.write(buf.subarray(0, bytesRead));
      done += bytesRead;
    }
    if (done !== size) throw new Error(`${content} shrank while it was being archived (${done} of ${size} bytes)`);
  } finally {
    await fh.close();
  }
}

function octal(value: number, width: number): string {
  const s = value.toString(8);
  if (s.length > width - 1) throw new Error(`${value} does not fit a tar header field`);
  return s.padStart(width - 1, "0");
}

function putString(buf: Buffer, offset: number, width: number, value: string): void {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > width) throw new Error(`"${value}" does not fit a ${width}-byte tar field`);
  bytes.copy(buf, offset);
}

interface Header {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  typeflag: string;
  linkname: string;
}

function ustarHeader(h: Header): Buffer {
  const buf = Buffer.alloc(BLOCK);
  putString(buf, 0, 100, h.name);
  putString(buf, 100, 8, octal(h.mode, 8));
  putString(buf, 108, 8, octal(h.uid, 8));
  putString(buf, 116, 8, octal(h.gid, 8));
  putString(buf, 124, 12, octal(h.size, 12));
  putString(buf, 136, 12, octal(0, 12));
  buf.fill(" ", 148, 156); // the checksum counts its own field as spaces
  putString(buf, 156, 1, h.typeflag);
  putString(buf, 157, 100, h.linkname);
  putString(buf, 257, 6, "ustar");
  putString(buf, 263, 2, "00");
  let sum = 0;
  for (const byte of buf) sum += byte;
  putString(buf, 148, 8, `${octal(sum, 7)}\0`);
  return buf;
}

/** One PAX record: "<length> <key>=<value>\n", where the length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let length = bodyLength + 1;
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
  return `${length}${body}`;
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** Writes one entry's header(s) and content; a name or target too long for ustar goes in a PAX header. */
export async function writeEntry(sink: Sink, entry: TarEntry): Promise<void> {
  let name = entryName(entry.path);
  if (entry.type === "dir") name += "/";
  const linkname = entry.type === "symlink" ? entry.target : "";
  const size = entry.type === "file" ? await contentSize(entry.content) : 0;
  const defaultMode = entry.type === "file" ? 0o644 : entry.type === "dir" ? 0o755 : 0o777;
  const mode = (entry.type === "symlink" ? undefined : entry.mode) ?? defaultMode;
  const typeflag = entry.type === "file" ? "0" : entry.type === "dir" ? "5" : "2";
  const pax = [
    ...(Buffer.byteLength(name) > 100 ? [paxRecord("path", name)] : []),
    ...(Buffer.byteLength(linkname) > 100 ? [paxRecord("linkpath", linkname)] : []),
  ].join("");
  const base = { mode, uid: entry.uid ?? 0, gid: entry.gid ?? 0 };
  if (pax) {
    const data = Buffer.from(pax, "utf8");
    await sink.write(ustarHeader({ ...base, name: "PaxHeaders/entry", size: data.length, typeflag: "x", linkname: "" }));
    await sink.write(Buffer.concat([data, padding(data.length)]));
  }
  const cut = (s: string) => Buffer.from(s, "utf8").subarray(0, 100).toString("utf8").replace(/\uFFFD$/, "");
  await sink.write(ustarHeader({ ...base, name: cut(name), size, typeflag, linkname: cut(linkname) }));
  if (entry.type === "file") {
    await writeContent(entry.content, size, sink);
    await sink.write(padding(size));
  }
}

/** The end-of-archive marker: two zero blocks. */
export function writeEnd(sink: Sink): Promise<void> {
  return sink.write(Buffer.alloc(2 * BLOCK));
}

/**
 * The entries of one archive in a canonical form: names normalised, every parent directory present
 * (root-owned, 0755, unless listed), sorted by name so parents precede children. Listing a path twice
 * is an error: which one wins would depend on the order the recipe happened to list them.
 */
export function canonicalEntries(entries: TarEntry[]): TarEntry[] {
  const byName = new Map<string, TarEntry>();
  for (const e of entries) {
    const name = entryName(e.path);
    if (byName.has(name)) throw new Error(`"${name}" is listed twice in one layer`);
    byName.set(name, { ...e, path: name });
  }
  for (const name of [...byName.keys()]) {
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const existing = byName.get(parent);
      if (existing && existing.type !== "dir") throw new Error(`"${name}" lies under "${parent}", which is not a directory in this layer`);
      if (!existing) byName.set(parent, { type: "dir", path: parent });
    }
  }
  const compare = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  return [...byName.values()].sort((a, b) => compare(a.path, b.path));
}

/** A whole tar archive of these entries, generated on demand (its size is computed up front). */
export async function tarArchive(entries: TarEntry[]): Promise<Generated & { digest: string }> {
  const canonical = canonicalEntries(entries);
  const writeTo = async (sink: Sink) => {
    for (const e of canonical) await writeEntry(sink, e);
    await writeEnd(sink);
  };
  const measured = new HashSink();
  await writeTo(measured);
  return { size: measured.size, digest: measured.digest(), writeTo };
}
