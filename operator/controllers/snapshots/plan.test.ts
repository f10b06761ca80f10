import assert from "node:assert/strict";
import type { Snapshot } from "../../api/snapshot.ts";
import { snapshotObjectName } from "../../api/snapshot.ts";
import type { SnapshotInfo } from "../../restic/snapshot-file.ts";
import { forgetAskedBy, planSnapshots, snapshotMetadata } from "./plan.ts";

const owner = { apiVersion: "stash.appscode.com/v1alpha1", kind: "Repository", name: "azure-repo", uid: "u1", controller: true };
const snap = (id: string, time = "2026-01-01T00:00:00Z"): SnapshotInfo => ({ id, time, tree: "t".repeat(64), paths: ["/"], hostname: "host-0", username: "root", uid: 0, gid: 0, tags: ["demo/c"], bytesProcessed: 2048 });
const base = { namespace: "demo", repository: "azure-repo", owner, forgetting: new Set<string>(), forgetFailed: new Map(), now: new Date("2026-01-02T00:00:00Z") };

describe("planSnapshots", () => {
  it("names objects as Stash does and creates what is missing, with Stash's status fields", () => {
    const id = "0123456789abcdef".repeat(4);
    const p = planSnapshots({ ...base, snapshots: [snap(id)], existing: [] });
    assert.equal(p.create.length, 1);
    const o = p.create[0]!;
    assert.equal(o.metadata?.name, "azure-repo-01234567");
    assert.deepEqual(o.metadata?.labels, { repository: "azure-repo", "app.kubernetes.io/managed-by": "blobstash" });
    assert.equal(o.metadata?.annotations?.["blobstash.io/snapshot-id"], id);
    assert.match(o.metadata?.annotations?.["blobstash.io/content-hash"] ?? "", /^[\w-]{22}$/);
    assert.deepEqual(o.status, { id, repository: "azure-repo", time: "2026-01-01T00:00:00Z", tree: "t".repeat(64), paths: ["/"], hostname: "host-0", username: "root", uid: 0, gid: 0, tags: ["demo/c"], size: "2 KiB" });
  });

  it("writes nothing when objects match, removes objects restic no longer has, skips ids being forgotten", () => {
    const a = "a".repeat(64);
    const b = "b".repeat(64);
    const first = planSnapshots({ ...base, snapshots: [snap(a), snap(b)], existing: [] });
    const existing = first.create as Snapshot[];
    const settled = planSnapshots({ ...base, snapshots: [snap(a), snap(b)], existing });
    assert.deepEqual([settled.create.length, settled.update.length, settled.remove.length], [0, 0, 0], "a settled repository costs no writes");
    const forgotten = planSnapshots({ ...base, snapshots: [snap(a)], existing });
    assert.deepEqual(forgotten.remove, [snapshotObjectName("azure-repo", b)]);
    const inFlight = planSnapshots({ ...base, snapshots: [snap(a), snap(b)], existing: [existing[0]!], forgetting: new Set([b]) });
    assert.deepEqual([inFlight.create.length, inFlight.remove.length], [0, 0], "a snapshot being forgotten is not put back");
  });

  it("compares metadata only (the informer caches PartialObjectMetadata): the content hash says whether an object is current", () => {
    const a = "a".repeat(64);
    const made = planSnapshots({ ...base, snapshots: [snap(a)], existing: [] }).create[0]!;
    const metadataOnly = (o: Snapshot): Snapshot => snapshotMetadata({ apiVersion: "meta.k8s.io/v1", kind: "PartialObjectMetadata", metadata: { ...o.metadata!, uid: "x", resourceVersion: "1", creationTimestamp: new Date() } });
    assert.deepEqual(Object.keys(metadataOnly(made).metadata!).sort(), ["annotations", "labels", "name", "namespace", "ownerReferences", "resourceVersion", "uid"]);
    const settled = planSnapshots({ ...base, snapshots: [snap(a)], existing: [metadataOnly(made)] });
    assert.deepEqual([settled.create.length, settled.update.length, settled.remove.length], [0, 0, 0]);
    const changed = planSnapshots({ ...base, snapshots: [{ ...snap(a), tags: ["other"] }], existing: [metadataOnly(made)] });
    assert.equal(changed.update.length, 1, "restic's fields changed: the hash differs");
    assert.deepEqual(changed.update[0]!.status?.tags, ["other"]);
    const old = { ...made, metadata: { ...made.metadata, annotations: undefined } };
    assert.equal(planSnapshots({ ...base, snapshots: [snap(a)], existing: [old] }).update.length, 1, "objects written before the annotations get them");
  });

  it("puts a failed forget's reason on the object and keeps it there", () => {
    const a = "a".repeat(64);
    const p = planSnapshots({ ...base, snapshots: [snap(a)], existing: [], forgetFailed: new Map([[a, { reason: "RepositoryLocked", message: "restic forget failed: locked" }]]) });
    const c = p.create[0]!.status?.conditions?.[0];
    assert.deepEqual([c?.type, c?.status, c?.reason], ["Deleted", "False", "RepositoryLocked"]);
    const later = planSnapshots({ ...base, snapshots: [snap(a)], existing: p.create });
    assert.deepEqual([later.update.length, later.create.length], [0, 0], "later patches leave the condition alone");
    const existing = planSnapshots({ ...base, snapshots: [snap(a)], existing: p.create, forgetFailed: new Map([[a, { reason: "ForgetFailed", message: "again" }]]) });
    assert.equal(existing.update[0]?.status?.conditions?.[0]?.reason, "ForgetFailed", "an object that is still there gets the reason by a patch");
  });

  it("two ids with the same first 8 digits: the older gets the name", () => {
    const older = "abcdef01" + "0".repeat(56);
    const newer = "abcdef01" + "1".repeat(56);
    const p = planSnapshots({ ...base, snapshots: [snap(newer, "2026-01-02T00:00:00Z"), snap(older)], existing: [] });
    assert.deepEqual([p.create.map((s) => s.status?.id), p.collisions], [[older], [newer]]);
  });
});

describe("forgetAskedBy", () => {
  const a = "a".repeat(64);
  const made = planSnapshots({ ...base, snapshots: [snap(a)], existing: [] }).create[0]!;
  const listed = (ids: string[]) => (key: string) => (key === "demo/azure-repo" ? new Set(ids) : undefined);

  it("the operator's own object of a listed snapshot asks to forget it", () => {
    assert.deepEqual(forgetAskedBy(made, listed([a]), new Set()), { repository: "demo/azure-repo", id: a });
    const metadataOnly = snapshotMetadata({ metadata: made.metadata! });
    assert.deepEqual(forgetAskedBy(metadataOnly, listed([a]), new Set()), { repository: "demo/azure-repo", id: a }, "the id comes from the annotation");
  });

  it("the sync's own removals, copies under another name, hand-made objects and unlisted ids forget nothing", () => {
    const removing = new Set(["demo/azure-repo-aaaaaaaa"]);
    assert.equal(forgetAskedBy(made, listed([a]), removing), undefined);
    assert.equal(removing.size, 0, "the removal is consumed");
    const copy = { ...made, metadata: { ...made.metadata, name: "my-copy" } };
    assert.equal(forgetAskedBy(copy, listed([a]), new Set()), undefined);
    const handMade = { ...made, metadata: { ...made.metadata, labels: { repository: "azure-repo" } } };
    assert.equal(forgetAskedBy(handMade, listed([a]), new Set()), undefined);
    assert.equal(forgetAskedBy(made, listed([]), new Set()), undefined, "already gone from restic");
  });
});
