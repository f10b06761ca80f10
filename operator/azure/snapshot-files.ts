// The restic repository's snapshot files in Azure (`<prefix>/snapshots/<id>`): listed by name and
// read one by one. A snapshot file never changes (its name is the hash of its content), so a reader
// that remembers what it read costs one listing per look once a repository is known.

import { repositoryPath } from "../api/repository.ts";
import { MAX_SNAPSHOT_FILE_BYTES } from "../restic/snapshot-file.ts";
import type { AzureClient } from "./clients.ts";
import type { ProbeTarget } from "./probe.ts";

export interface SnapshotFileEntry {
  id: string;
  blob: string;
  size: number;
  /** Upload time (ms since the epoch): which snapshots are the newest before reading them. */
  lastModified: number;
}

/** More snapshot files than this in one repository are not listed (the sync says so). */
export const MAX_SNAPSHOT_FILES = 10_000;

/** Snapshot files by id (names that are no restic id are skipped, as restic skips them); at most `max`+1. */
export async function listSnapshotFiles(client: AzureClient, target: ProbeTarget, max = MAX_SNAPSHOT_FILES): Promise<SnapshotFileEntry[]> {
  const container = client.service.getContainerClient(target.container);
  const prefix = `${repositoryPath(target.prefix, "snapshots")}/`;
  const out: SnapshotFileEntry[] = [];
  for await (const item of container.listBlobsFlat({ prefix })) {
    const id = item.name.slice(prefix.length);
    if (!/^[0-9a-f]{64}$/.test(id)) continue;
    out.push({ id, blob: item.name, size: item.properties.contentLength ?? 0, lastModified: item.properties.lastModified?.getTime() ?? 0 });
    if (out.length > max) break;
  }
  return out;
}

export async function downloadSnapshotFile(client: AzureClient, target: ProbeTarget, entry: SnapshotFileEntry): Promise<Buffer> {
  if (entry.size <= 0 || entry.size > MAX_SNAPSHOT_FILE_BYTES) throw new RangeError(`snapshot file of ${entry.size} bytes`);
  return client.service.getContainerClient(target.container).getBlobClient(entry.blob).downloadToBuffer(0, entry.size);
}
