// `restic stats --mode raw-data --json`: what the repository really takes in storage, which is the
// size Repository status reports (Stash's "restore size" counted deduplicated data many times).

import { isRecord, parseDocument, type Parsed } from "./json-doc.ts";
import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

export interface RawDataStats {
  /** Bytes of all blobs as stored (compressed, deduplicated). */
  totalSize: number;
  totalUncompressedSize?: number;
  blobCount?: number;
  snapshotsCount?: number;
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
  const out: RawDataStats = { totalSize: v.total_size };
  if (typeof v.total_uncompressed_size === "number") out.totalUncompressedSize = v.total_uncompressed_size;
  if (typeof v.total_blob_count === "number") out.blobCount = v.total_blob_count;
  if (typeof v.snapshots_count === "number") out.snapshotsCount = v.snapshots_count;
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
