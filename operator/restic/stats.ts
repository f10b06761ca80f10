// `restic stats --mode raw-data --json`: what the repository really takes in storage, which is the
// size Repository status reports (Stash's "restore size" counted deduplicated data many times), and
// how many snapshots it holds (without a filter, stats reads all of them).

import { isRecord } from "../api/json.ts";
import { parseDocument, type Parsed } from "./json-doc.ts";
import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

export interface RawDataStats {
  /** Bytes of all blobs as stored (compressed, deduplicated). */
  totalSize: number;
  totalUncompressedSize?: number;
  blobCount?: number;
  snapshotsCount: number;
}

export function statsArgs(): string[] {
  return ["stats", "--mode", "raw-data"];
}

export function parseStats(stdout: string): Parsed<RawDataStats> {
  const doc = parseDocument(stdout, "stats");
  if (!doc.ok) return doc;
  const v = doc.value;
  if (!isRecord(v) || typeof v.total_size !== "number" || !Number.isFinite(v.total_size) || v.total_size < 0) {
    return { ok: false, error: "stats: no total_size in restic's output" };
  }
  if (typeof v.snapshots_count !== "number" || !Number.isInteger(v.snapshots_count) || v.snapshots_count < 0) {
    return { ok: false, error: "stats: no snapshots_count in restic's output" };
  }
  const out: RawDataStats = { totalSize: v.total_size, snapshotsCount: v.snapshots_count };
  if (typeof v.total_uncompressed_size === "number") out.totalUncompressedSize = v.total_uncompressed_size;
  if (typeof v.total_blob_count === "number") out.blobCount = v.total_blob_count;
  return { ok: true, value: out };
}

export interface StatsOutcome {
  run: ResticRun;
  stats?: RawDataStats;
  parseError?: string;
}

export async function runStats(ctx: ResticContext): Promise<StatsOutcome> {
  const run = await runRestic(ctx, statsArgs(), { noLock: true, collectStdout: true });
  if (run.exitCode !== 0) return { run };
  const parsed = parseStats(run.stdout);
  return parsed.ok ? { run, stats: parsed.value } : { run, parseError: parsed.error };
}
