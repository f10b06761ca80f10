import assert from "node:assert/strict";
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { controllerUid, nameTaken, ownedBy, podsMadeFor } from "./ownership.ts";

const job: V1Job = {
  metadata: { name: "s-backup", namespace: "t", uid: "job-uid", ownerReferences: [{ apiVersion: "stash.appscode.com/v1beta1", kind: "BackupSession", name: "s", uid: "session-uid", controller: true }] },
  spec: { template: { spec: { containers: [{ name: "restic", image: "blobstash:1", command: ["blobstash"], args: ["backup", "--repo", "r"] }] } } },
};
const pod = (over: { uid?: string; image?: string; args?: string[]; controller?: boolean; extra?: boolean }): V1Pod => ({
  metadata: { name: "p", labels: { "batch.kubernetes.io/job-name": "s-backup" }, ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "s-backup", uid: over.uid ?? "job-uid", controller: over.controller ?? true }] },
  spec: {
    containers: [
      { name: "restic", image: over.image ?? "blobstash:1", command: ["blobstash"], args: over.args ?? ["backup", "--repo", "r"] },
      ...(over.extra ? [{ name: "side", image: "evil" }] : []),
    ],
  },
});

describe("what a session adopts", () => {
  it("goes by the controller owner's UID, not by name or label", () => {
    assert.equal(controllerUid(job), "session-uid");
    assert.ok(ownedBy(job, "session-uid"));
    assert.ok(!ownedBy(job, "other-uid"));
    assert.ok(!ownedBy(job, undefined) && !ownedBy(job, ""));
    assert.ok(!ownedBy({ metadata: { ownerReferences: [{ apiVersion: "v1", kind: "BackupSession", name: "s", uid: "session-uid", controller: false }] } }, "session-uid"), "a non-controller reference adopts nothing");
    assert.ok(!ownedBy({ metadata: {} }, "session-uid"));
  });

  it("reads results only from pods the Job controls that run the Job's own container", () => {
    const real = pod({});
    assert.deepEqual(podsMadeFor(job, [real]), [real]);
    for (const forged of [pod({ uid: "forged" }), pod({ controller: false }), pod({ image: "tenant/fake-result:1" }), pod({ args: ["backup", "--repo", "elsewhere"] }), pod({ extra: true })]) {
      assert.deepEqual(podsMadeFor(job, [forged]), [], JSON.stringify(forged.metadata?.ownerReferences) + JSON.stringify(forged.spec));
    }
  });

  it("says whose an object is when its name is taken", () => {
    const p = nameTaken("Job", "t", "s-backup", { metadata: { ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "mine", uid: "u", controller: true }] } });
    assert.equal(p.reason, "JobNameTaken");
    assert.match(p.message, /Job t\/s-backup exists but was not made for this session \(it belongs to ConfigMap mine\)/);
    assert.match(nameTaken("Secret", "t", "x", { metadata: {} }).message, /it has no controller/);
  });
});
