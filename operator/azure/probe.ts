// What the operator asks Azure about a Repository, without writing anything:
//   list   – list blobs under the prefix (one result): container exists, credential accepted, "l"
//   write  – Put Blob of an empty `<prefix>/.blobstash-probe` with If-Match on an ETag no blob can
//            have: Azure authorizes before it evaluates preconditions, so a credential allowed to
//            write gets 412 (or 404) and nothing is written; one that is not gets 403
//   delete – Delete of that same, absent, name: 404 proves delete permission (restic deletes its
//            lock files), 403 refuses it
//   read   – HEAD `<prefix>/config`: the repository is initialized, and "r" is granted (its ETag
//            tells the password check whether the config it verified a key against changed)
// Four small requests per Repository per revalidation, sent together, no garbage left behind.

import type { BlobClient, ContainerClient } from "@azure/storage-blob";
import { repositoryPath } from "../api/repository.ts";
import type { AzureClient } from "./clients.ts";
import { MAX_KEY_FILE_BYTES } from "../restic/password.ts";
import { type AzureFailure, classifyAzureError } from "./errors.ts";

export const PROBE_BLOB_NAME = ".blobstash-probe";
/** An ETag Azure never issues (real ones are 0x8D… timestamps), so the conditional write cannot succeed. */
const IMPOSSIBLE_ETAG = "\"0x0000000000000000-blobstash-probe\"";

export interface ProbeTarget {
  container: string;
  /** As written in the Repository; normalized here the way restic does. */
  prefix?: string;
}

export type ProbeStep = "list" | "write" | "delete" | "read";

export type BackendProbe =
  | { ok: true; initialized: boolean; config?: ConfigBlob }
  | { ok: false; step: ProbeStep; failure: AzureFailure };

export const PERMISSION_FOR_STEP: Record<ProbeStep, string> = { list: "list (l)", write: "write (w)", delete: "delete (d)", read: "read (r)" };

export async function probeBackend(client: AzureClient, target: ProbeTarget): Promise<BackendProbe> {
  const container = client.service.getContainerClient(target.container);
  const listPrefix = repositoryPath(target.prefix, "");
  const probe = container.getBlockBlobClient(repositoryPath(target.prefix, PROBE_BLOB_NAME));
  // The four requests are independent, so they go out at once: a probe costs one round trip of
  // latency instead of four, which is what bounds how fast a thousand Repositories become Ready.
  // Their answers are still read in the order above, so the first failing step is the one reported.
  const [list, write, del, read] = await Promise.all([
    settle(container.listBlobsFlat({ prefix: listPrefix ? `${listPrefix}/` : undefined }).byPage({ maxPageSize: 1 }).next()),
    expectRefusedByPrecondition(() => probe.upload("", 0, { conditions: { ifMatch: IMPOSSIBLE_ETAG } })),
    expectRefusedByPrecondition(() => probe.delete()),
    settle(configProperties(container.getBlobClient(repositoryPath(target.prefix, "config")))),
  ]);
  if (!list.ok) return { ok: false, step: "list", failure: classifyAzureError(list.error) };
  if (write) return { ok: false, step: "write", failure: write };
  if (del) return { ok: false, step: "delete", failure: del };
  if (!read.ok) return { ok: false, step: "read", failure: classifyAzureError(read.error, { authenticated: true }) };
  return read.value ? { ok: true, initialized: true, config: read.value } : { ok: true, initialized: false };
}

export interface ConfigBlob {
  size: number;
  etag?: string;
}

/** HEAD of the config blob: undefined when absent (what BlobClient.exists() does, keeping size and ETag). */
async function configProperties(blob: BlobClient): Promise<ConfigBlob | undefined> {
  try {
    const p = await blob.getProperties();
    return { size: p.contentLength ?? 0, ...(p.etag ? { etag: p.etag } : {}) };
  } catch (err) {
    if ((err as { statusCode?: unknown }).statusCode === 404) return undefined;
    throw err;
  }
}

async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Undefined when the service authorized the request (then refused it for the precondition or absence). */
async function expectRefusedByPrecondition(request: () => Promise<unknown>): Promise<AzureFailure | undefined> {
  try {
    await request();
    return undefined; // succeeded: permitted (only possible for delete, if a stale probe blob existed)
  } catch (err) {
    const status = (err as { statusCode?: unknown }).statusCode;
    if (status === 412 || status === 404 || status === 409) return undefined;
    return classifyAzureError(err, { authenticated: true });
  }
}

export interface KeyFileEntry {
  /** The name under keys/, as listed (restic's key id when it is 64 lowercase hex digits). */
  name: string;
  blob: string;
  size: number;
  etag?: string;
}

/** restic tries at most this many key files, in listing order, and then gives up (ErrMaxKeysReached). */
export const RESTIC_MAX_KEYS = 20;

/**
 * The key files restic would try (`<prefix>/keys/<id>`), in the order Azure lists them (by name),
 * which is the order restic tries them: names that are no 64-digit hex id are skipped, as restic
 * skips them. At most `max` (one more than restic tries, so "too many" can be told).
 */
export async function listKeyFiles(client: AzureClient, target: ProbeTarget, max = RESTIC_MAX_KEYS + 1): Promise<KeyFileEntry[]> {
  const container = client.service.getContainerClient(target.container);
  const prefix = `${repositoryPath(target.prefix, "keys")}/`;
  const out: KeyFileEntry[] = [];
  for await (const item of container.listBlobsFlat({ prefix })) {
    const name = item.name.slice(prefix.length);
    if (!/^[0-9a-f]{64}$/i.test(name)) continue; // restic.ParseID fails: restic skips it
    out.push({ name, blob: item.name, size: item.properties.contentLength ?? 0, ...(item.properties.etag ? { etag: item.properties.etag } : {}) });
    if (out.length >= max) break;
  }
  return out;
}

/** The repository's config blob (a few hundred bytes: restic's encrypted JSON); `size` from its HEAD. */
export async function downloadConfig(client: AzureClient, target: ProbeTarget, config: ConfigBlob): Promise<Buffer> {
  if (config.size <= 0 || config.size > MAX_KEY_FILE_BYTES) throw new RangeError(`config of ${config.size} bytes`);
  return client.service.getContainerClient(target.container).getBlobClient(repositoryPath(target.prefix, "config")).downloadToBuffer(0, config.size);
}

/** Key files are a few hundred bytes; anything much larger is not one and is not downloaded. */
export { MAX_KEY_FILE_BYTES } from "../restic/password.ts";

/** `size` from the listing: the SDK fails when asked for more bytes than the blob has. */
export async function downloadKeyFile(client: AzureClient, target: ProbeTarget, key: { blob: string; size: number }): Promise<Buffer> {
  if (key.size <= 0 || key.size > MAX_KEY_FILE_BYTES) throw new RangeError(`key file of ${key.size} bytes`);
  return client.service.getContainerClient(target.container).getBlobClient(key.blob).downloadToBuffer(0, key.size);
}

/** Top-level entries of restic's repository layout. Only these are deleted, so other data sharing the prefix survives. */
export const RESTIC_LAYOUT = ["config", "keys/", "data/", "index/", "snapshots/", "locks/", PROBE_BLOB_NAME] as const;

/**
 * Deletes the restic repository under the prefix: the files restic's layout defines and nothing
 * else (a nested repository under the same prefix, or unrelated blobs, stay). Returns the count.
 */
export async function deleteRepositoryData(client: AzureClient, target: ProbeTarget, options: { concurrency?: number } = {}): Promise<number> {
  const container = client.service.getContainerClient(target.container);
  const concurrency = options.concurrency ?? 16;
  let deleted = 0;
  for (const entry of RESTIC_LAYOUT) {
    const name = repositoryPath(target.prefix, entry.replace(/\/$/, ""));
    if (!entry.endsWith("/")) {
      if (await deleteIfExists(container, name)) deleted++;
      continue;
    }
    const batch: string[] = [];
    const flush = async (): Promise<void> => {
      const results = await Promise.all(batch.splice(0).map((n) => deleteIfExists(container, n)));
      deleted += results.filter(Boolean).length;
    };
    for await (const item of container.listBlobsFlat({ prefix: `${name}/` })) {
      batch.push(item.name);
      if (batch.length >= concurrency) await flush();
    }
    await flush();
  }
  return deleted;
}

async function deleteIfExists(container: ContainerClient, name: string): Promise<boolean> {
  const res = await container.getBlobClient(name).deleteIfExists({ deleteSnapshots: "include" });
  return res.succeeded;
}
