// `restic snapshots --json`: the snapshot a restore names (`latest`, an id or a prefix), resolved to
// its id, time and host.

import { isRecord } from "../api/json.ts";
import { parseDocument, stringArray, type Parsed } from "./json-doc.ts";
import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

export interface Snapshot {
  id: string;
  shortId: string;
  time: string;
  hostname: string;
  tags: string[];
  paths: string[];
  parent?: string;
}

export interface SnapshotsFilter {
  /** Snapshot ids, id prefixes or `latest`; all snapshots when empty. */
  ids?: string[];
  host?: string;
  tags?: string[];
}

export function snapshotsArgs(f: SnapshotsFilter = {}): string[] {
  const out = ["snapshots"];
  if (f.host) out.push("--host", f.host);
  for (const t of f.tags ?? []) out.push("--tag", t);
  out.push(...(f.ids ?? []));
  return out;
}

/** Parses `snapshots --json` output; entries without a restic id (64 hex digits) or a time are skipped. */
export function parseSnapshots(stdout: string): Parsed<Snapshot[]> {
  const doc = parseDocument(stdout, "snapshots");
  if (!doc.ok) return doc;
  if (!Array.isArray(doc.value)) return { ok: false, error: "snapshots: expected a JSON array" };
  const out: Snapshot[] = [];
  for (const s of doc.value) {
    if (!isRecord(s) || typeof s.id !== "string" || !/^[0-9a-f]{64}$/.test(s.id) || typeof s.time !== "string" || Number.isNaN(Date.parse(s.time))) continue;
    const snap: Snapshot = {
      id: s.id,
      shortId: typeof s.short_id === "string" ? s.short_id : s.id.slice(0, 8),
      time: s.time,
      hostname: typeof s.hostname === "string" ? s.hostname : "",
      tags: stringArray(s.tags),
      paths: stringArray(s.paths),
    };
    if (typeof s.parent === "string" && /^[0-9a-f]{64}$/.test(s.parent)) snap.parent = s.parent;
    out.push(snap);
  }
  return { ok: true, value: out };
}

export interface SnapshotsOutcome {
  run: ResticRun;
  snapshots?: Snapshot[];
  parseError?: string;
}

/** Read-only, so without a lock: no lock file written and deleted on the backend. */
export async function runSnapshots(ctx: ResticContext, f: SnapshotsFilter = {}): Promise<SnapshotsOutcome> {
  const run = await runRestic(ctx, snapshotsArgs(f), { noLock: true, collectStdout: true });
  if (run.exitCode !== 0) return { run };
  const parsed = parseSnapshots(run.stdout);
  return parsed.ok ? { run, snapshots: parsed.value } : { run, parseError: parsed.error };
}
