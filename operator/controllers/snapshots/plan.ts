// What the Snapshot objects of one Repository should be, from what the restic repository holds.
// Pure: the reconciler lists, this decides, the reconciler writes only the differences.

import { createHash } from "node:crypto";
import type { V1OwnerReference } from "@kubernetes/client-node";
import { formatBytes } from "../../api/bytes.ts";
import { setCondition, type Condition } from "../../api/conditions.ts";
import { BLOBSTASH_DOMAIN, LABEL_MANAGED_BY, MANAGED_BY } from "../../api/labels.ts";
import { SNAPSHOT_API_VERSION, SNAPSHOT_KIND, SNAPSHOT_REPOSITORY_LABEL, snapshotObjectName, type Snapshot, type SnapshotStatus } from "../../api/snapshot.ts";
import type { SnapshotInfo } from "../../restic/snapshot-file.ts";

/** The condition a Snapshot carries when `kubectl delete` could not forget it. */
export const DELETED_CONDITION = "Deleted";

/**
 * The operator caches Snapshot objects as metadata only (PartialObjectMetadata: at 100,000 objects
 * the statuses would be most of its memory), so what it needs to know of an object is in its
 * metadata: the full snapshot id (a delete event must say which snapshot to forget; a label value
 * cannot hold 64 characters) and a hash of the status it wrote, compared with the desired one.
 */
export const ANNOTATION_SNAPSHOT_ID = `${BLOBSTASH_DOMAIN}/snapshot-id`;
export const ANNOTATION_CONTENT_HASH = `${BLOBSTASH_DOMAIN}/content-hash`;

export interface SnapshotPlanInput {
  namespace: string;
  repository: string;
  owner: V1OwnerReference;
  snapshots: readonly SnapshotInfo[];
  /** Snapshot objects labelled repository=<name> in the namespace. */
  existing: readonly Snapshot[];
  /** Ids being forgotten (a forget Job exists or is about to): no object for them. */
  forgetting: ReadonlySet<string>;
  /** Ids whose forget failed, with why: their object comes back with a Deleted=False condition. */
  forgetFailed: ReadonlyMap<string, { reason: string; message: string }>;
  now: Date;
}

export interface SnapshotPlan {
  create: Snapshot[];
  /** Objects whose status or labels differ: the full desired object (merge patch). */
  update: Snapshot[];
  /** Names of objects nothing in the repository stands for (forgotten outside, hand-made). */
  remove: string[];
  /** Ids two snapshots share the first 8 hex digits of: only the older gets the name. */
  collisions: string[];
}

export function statusOf(s: SnapshotInfo, repository: string): SnapshotStatus {
  const status: SnapshotStatus = {
    id: s.id,
    repository,
    time: s.time,
    tree: s.tree,
    paths: s.paths,
    hostname: s.hostname,
    username: s.username,
    uid: s.uid,
    gid: s.gid,
    tags: s.tags,
  };
  if (s.bytesProcessed !== undefined) status.size = formatBytes(s.bytesProcessed);
  return status;
}

/**
 * What the operator's cache keeps of a Snapshot: what the plan and a delete's decision read (a
 * quarter less memory than the whole metadata, at 100,000 objects some 20 MB).
 */
export function snapshotMetadata(o: Snapshot): Snapshot {
  const m = o.metadata ?? {};
  const metadata: Snapshot["metadata"] = { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion };
  if (m.labels) metadata.labels = m.labels;
  if (m.annotations) metadata.annotations = m.annotations;
  if (m.deletionTimestamp) metadata.deletionTimestamp = m.deletionTimestamp;
  if (m.ownerReferences) metadata.ownerReferences = m.ownerReferences.map((r) => ({ uid: r.uid }) as NonNullable<typeof m.ownerReferences>[number]);
  return { metadata };
}

/** Hash of what the operator writes from restic (conditions are the operator's own and excluded). */
export function contentHash(status: SnapshotStatus): string {
  const { conditions: _conditions, ...fields } = status;
  return createHash("sha256").update(JSON.stringify(fields)).digest("base64url").slice(0, 22);
}

export function planSnapshots(input: SnapshotPlanInput): SnapshotPlan {
  const { namespace, repository, now } = input;
  const byName = new Map<string, SnapshotInfo>();
  const collisions: string[] = [];
  const ordered = [...input.snapshots].sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
  for (const s of ordered) {
    if (input.forgetting.has(s.id)) continue;
    const name = snapshotObjectName(repository, s.id);
    if (byName.has(name)) collisions.push(s.id);
    else byName.set(name, s);
  }
  const existing = new Map(input.existing.map((o) => [o.metadata?.name ?? "", o]));
  const plan: SnapshotPlan = { create: [], update: [], remove: [], collisions };
  for (const [name, s] of byName) {
    const current = existing.get(name);
    const status: SnapshotStatus = statusOf(s, repository);
    const hash = contentHash(status);
    const failed = input.forgetFailed.get(s.id);
    // Conditions are written only when a forget failed; a merge patch without them leaves them on the object.
    if (failed) status.conditions = setCondition(undefined, { type: DELETED_CONDITION, status: "False", reason: failed.reason, message: failed.message }, now) as Condition[];
    const labels = { [SNAPSHOT_REPOSITORY_LABEL]: repository, [LABEL_MANAGED_BY]: MANAGED_BY };
    const annotations = { [ANNOTATION_SNAPSHOT_ID]: s.id, [ANNOTATION_CONTENT_HASH]: hash };
    const desired: Snapshot = {
      apiVersion: SNAPSHOT_API_VERSION,
      kind: SNAPSHOT_KIND,
      metadata: { name, namespace, labels, annotations, ownerReferences: [input.owner] },
      status,
    };
    if (!current) plan.create.push(desired);
    else if (failed || !sameLabels(current.metadata?.annotations, annotations) || !sameLabels(current.metadata?.labels, labels) || !ownedBy(current, input.owner)) plan.update.push(desired);
  }
  for (const name of existing.keys()) if (!byName.has(name)) plan.remove.push(name);
  return plan;
}

function sameLabels(have: Record<string, string> | undefined, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => have?.[k] === v);
}

function ownedBy(o: Snapshot, owner: V1OwnerReference): boolean {
  return !!o.metadata?.ownerReferences?.some((r) => r.uid === owner.uid);
}

/**
 * Whether a Snapshot's delete event asks to forget its snapshot (before the checks that need the
 * API: Repository and namespace still there). Only the object the operator made for an id it saw
 * in the repository at the last look, and not one the sync removed itself (`removing`, consumed
 * here); a copy under another name, or a hand-made object, forgets nothing.
 */
export function forgetAskedBy(s: Snapshot, listed: (repositoryKey: string) => ReadonlySet<string> | undefined, removing: Set<string>): { repository: string; id: string } | undefined {
  const namespace = s.metadata?.namespace ?? "";
  if (removing.delete(`${namespace}/${s.metadata?.name}`)) return undefined;
  const repo = s.metadata?.labels?.[SNAPSHOT_REPOSITORY_LABEL];
  // Metadata-only delete events carry the id in the annotation; objects written before it in status.
  const id = s.metadata?.annotations?.[ANNOTATION_SNAPSHOT_ID] ?? s.status?.id;
  if (!repo || !id || s.metadata?.labels?.[LABEL_MANAGED_BY] !== MANAGED_BY) return undefined;
  if (s.metadata?.name !== snapshotObjectName(repo, id)) return undefined;
  const repository = `${namespace}/${repo}`;
  return listed(repository)?.has(id) ? { repository, id } : undefined;
}
