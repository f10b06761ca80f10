// Reading a restic snapshot file (`snapshots/<id>`) with the repository's master key: the file is
// sealed like every restic file (IV | AES-256-CTR | Poly1305), and in repository format 2 the
// plaintext may be zstd-compressed (a leading version byte 2; plain JSON starts with "{").
// Everything read here comes from a bucket a tenant can write: sizes are bounded, fields are
// type-checked, and nothing throws past `readSnapshotFile`.

import { createHash } from "node:crypto";
import { zstdDecompressSync } from "node:zlib";
import { isRecord } from "../api/json.ts";
import type { MasterKey } from "./master-key.ts";
import { openSealed } from "./password.ts";

/** A snapshot file is a few hundred bytes to a few KiB (paths, tags); restic writes no larger ones in practice. */
export const MAX_SNAPSHOT_FILE_BYTES = 1024 * 1024;
const MAX_PLAINTEXT_BYTES = 4 * MAX_SNAPSHOT_FILE_BYTES;
const MAX_LIST = 256;
const MAX_TEXT = 4096;
/**
 * What the operator keeps of one snapshot (and writes into its Snapshot object) is at most this
 * much JSON: a tenant writes the bucket, and the operator keeps every snapshot of every repository.
 */
export const MAX_KEPT_SNAPSHOT_BYTES = 16 * 1024;

export interface SnapshotInfo {
  id: string;
  time: string;
  tree: string;
  paths: string[];
  hostname: string;
  username: string;
  uid: number;
  gid: number;
  tags: string[];
  /** restic ≥ 0.17 records the backup's summary; total_bytes_processed is what the backup read. */
  bytesProcessed?: number;
}

export type SnapshotRead = { ok: true; snapshot: SnapshotInfo } | { ok: false; problem: string };

export function readSnapshotFile(id: string, sealed: Uint8Array, master: MasterKey): SnapshotRead {
  if (!/^[0-9a-f]{64}$/.test(id)) return { ok: false, problem: "the name is no restic id" };
  if (sealed.length > MAX_SNAPSHOT_FILE_BYTES) return { ok: false, problem: `${sealed.length} bytes is larger than any snapshot file` };
  // restic names a file by the SHA-256 of its content: a file that does not hash to its name is not restic's.
  if (createHash("sha256").update(sealed).digest("hex") !== id) return { ok: false, problem: "the content does not hash to its name" };
  const plain = openSealed(master.encryption, master.macK, master.macR, sealed);
  if (!plain) return { ok: false, problem: "the repository's key does not open it" };
  let json: Buffer;
  try {
    json = plain[0] === 2 ? zstdDecompressSync(plain.subarray(1), { maxOutputLength: MAX_PLAINTEXT_BYTES }) : plain;
  } catch (err) {
    return { ok: false, problem: `cannot decompress it (${err instanceof Error ? err.message : String(err)})` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(json.toString("utf8"));
  } catch {
    return { ok: false, problem: "it holds no JSON" };
  }
  return parseSnapshotJson(id, raw);
}

/** restic's snapshot JSON (internal/data/snapshot.go) to what the operator keeps. Pure. */
export function parseSnapshotJson(id: string, raw: unknown): SnapshotRead {
  if (!isRecord(raw)) return { ok: false, problem: "it is not a JSON object" };
  const time = typeof raw.time === "string" && !Number.isNaN(Date.parse(raw.time)) ? raw.time : undefined;
  const tree = typeof raw.tree === "string" && /^[0-9a-f]{64}$/.test(raw.tree) ? raw.tree : undefined;
  if (!time || !tree) return { ok: false, problem: "it has no time or tree" };
  const summary = isRecord(raw.summary) ? raw.summary : undefined;
  const bytes = summary?.total_bytes_processed;
  const snapshot: SnapshotInfo = {
    id,
    // Kubernetes keeps times to the second; restic's own are nanoseconds.
    time: new Date(Date.parse(time)).toISOString().replace(/\.\d{3}Z$/, "Z"),
    tree,
    paths: strings(raw.paths),
    hostname: text(raw.hostname),
    username: text(raw.username),
    uid: int32(raw.uid),
    gid: int32(raw.gid),
    tags: strings(raw.tags),
  };
  if (typeof bytes === "number" && Number.isSafeInteger(bytes) && bytes >= 0) snapshot.bytesProcessed = bytes;
  const size = Buffer.byteLength(JSON.stringify(snapshot));
  if (size > MAX_KEPT_SNAPSHOT_BYTES) return { ok: false, problem: `its paths, tags and names take ${size} bytes; blobstash shows snapshots of at most ${MAX_KEPT_SNAPSHOT_BYTES}` };
  return { ok: true, snapshot };
}

function text(v: unknown): string {
  return typeof v === "string" ? v.slice(0, MAX_TEXT) : "";
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.slice(0, MAX_LIST).filter((s): s is string => typeof s === "string").map((s) => s.slice(0, MAX_TEXT)) : [];
}

function int32(v: unknown): number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1 ? v : 0;
}
