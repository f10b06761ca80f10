import assert from "node:assert/strict";
import type { Repository } from "../../api/repository.ts";
import { buildMaintenanceJob } from "./job.ts";

const repository: Repository = { metadata: { name: "azure-repo", namespace: "demo", uid: "uid-1" }, spec: { backend: { storageSecretName: "s", azure: { container: "c", prefix: "/p" } } } };

describe("maintenance Jobs", () => {
  it("a check is suspended (it waits for the slot), owned by the Repository, without a volume or capability", () => {
    const b = buildMaintenanceJob({ repository, kind: "check", readDataSubset: "1/4", nameSeed: "123", trigger: "schedule:123", image: "img", timeOut: "1h" });
    assert.ok(b.ok);
    const job = b.job;
    const c = job.spec!.template.spec!.containers[0]!;
    assert.equal(job.spec?.suspend, true);
    assert.deepEqual(job.metadata?.ownerReferences?.map((o) => [o.kind, o.uid]), [["Repository", "uid-1"]]);
    assert.deepEqual(c.args?.slice(0, 7), ["check", "--repo", "azure:c:/p", "--option", "azure.connections=5", "--read-data-subset", "1/4"]);
    assert.ok(c.args?.includes("--timeout"));
    assert.equal(job.spec?.activeDeadlineSeconds, 3600);
    assert.equal(job.spec!.template.spec!.volumes?.some((v) => v.persistentVolumeClaim), false, "no PVC");
    assert.deepEqual(c.securityContext?.capabilities, { drop: ["ALL"] });
    assert.equal(c.volumeMounts?.some((m) => m.name === "target"), false);
    assert.ok(c.env?.every((e) => e.value === undefined || !/SAS|PASSWORD/.test(e.name)), "credentials only by reference");
    assert.equal(job.metadata?.labels?.["app.kubernetes.io/component"], "check");
  });

  it("a forget names the full id, prunes when asked, and refuses what is not an id", () => {
    const id = "a".repeat(64);
    const b = buildMaintenanceJob({ repository, kind: "forget", snapshotId: id, prune: true, nameSeed: "aaaaaaaa", image: "img" });
    assert.ok(b.ok);
    assert.deepEqual(b.job.spec!.template.spec!.containers[0]!.args?.slice(5, 8), ["--snapshot", id, "--prune"]);
    assert.equal(b.job.metadata?.name, "azure-repo-aaaaaaaa-forget");
    assert.equal(buildMaintenanceJob({ repository, kind: "forget", snapshotId: "abc", nameSeed: "x", image: "img" }).ok, false);
    assert.equal(buildMaintenanceJob({ repository, kind: "check", readDataSubset: "5/4", nameSeed: "x", image: "img" }).ok, false);
  });
});
