import assert from "node:assert/strict";
import type { RestoreSession } from "../../api/backup.ts";
import type { Repository } from "../../api/repository.ts";
import { buildRestoreJob, existingDataArgs, restoreJobName, ruleArgs, type RestoreJobInput } from "./job.ts";

function input(spec: Partial<NonNullable<RestoreSession["spec"]>> = {}): RestoreJobInput {
  return {
    session: {
      metadata: { name: "restore-app", namespace: "demo", uid: "r-uid" },
      spec: {
        repository: { name: "azure-repo" },
        target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "restored" }, rules: [{ snapshots: ["latest"], sourceHost: "app" }] },
        timeOut: "30m",
        ...spec,
      },
    },
    repository: { metadata: { name: "azure-repo", namespace: "demo" }, spec: { backend: { azure: { container: "backups", prefix: "demo/app" } } } } satisfies Repository,
    credentialsSecretName: "restore-app-restore-credentials",
    image: "blobstash:dev",
    createdAt: new Date("2026-11-30T02:00:00Z"),
  };
}

describe("restore Job builder", () => {
  it("builds the Job a restore runs as: writable volume, read-only credentials, no lock", () => {
    const built = buildRestoreJob(input());
    assert.ok(built.ok, JSON.stringify(!built.ok && built.refusals));
    const job = built.job;
    assert.equal(job.metadata?.name, "restore-app-restore");
    assert.equal(restoreJobName("restore-app"), "restore-app-restore");
    assert.deepEqual(job.metadata?.ownerReferences?.[0], {
      apiVersion: "stash.appscode.com/v1beta1",
      kind: "RestoreSession",
      name: "restore-app",
      uid: "r-uid",
      controller: true,
      blockOwnerDeletion: true,
    });
    assert.equal(job.metadata?.labels?.["app.kubernetes.io/component"], "restore");
    assert.equal(job.metadata?.labels?.["blobstash.io/session-kind"], "RestoreSession");
    assert.equal(job.spec?.activeDeadlineSeconds, 1800);
    assert.equal(job.spec?.backoffLimit, 0);
    const pod = job.spec!.template.spec!;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.deepEqual(pod.volumes?.[0], { name: "target", persistentVolumeClaim: { claimName: "restored" } });
    const c = pod.containers[0]!;
    assert.deepEqual(c.volumeMounts?.[0], { name: "target", mountPath: "/blobstash/volume" });
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    // Owners, groups, modes and setgid bits back as they were: what a restore adds, within PSS baseline.
    assert.deepEqual(c.securityContext?.capabilities, { drop: ["ALL"], add: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID"] });
    assert.equal(pod.securityContext?.runAsUser, 0);
    assert.deepEqual(c.args, [
      "restore",
      "--repo",
      "azure:backups:/demo/app",
      "--option",
      "azure.connections=5",
      "--snapshot",
      "latest",
      "--snapshot-host",
      "app",
      "--target",
      "/blobstash/volume",
      "--overwrite",
      "if-changed",
      "--cache-dir",
      "/blobstash/scratch/cache",
      "--result-file",
      "/dev/termination-log",
      "--timeout",
      "30m",
      "--deadline",
      "2026-11-30T02:30:00.000Z",
    ]);
    assert.ok(c.env?.every((e) => e.value === undefined || !/sig=|AccountKey/.test(e.value)));
  });

  it("restores the latest snapshot whole when there is no rule", () => {
    const built = buildRestoreJob(input({ target: { ref: { kind: "PersistentVolumeClaim", name: "restored" } }, timeOut: undefined }));
    assert.ok(built.ok);
    const args = built.job.spec!.template.spec!.containers[0]!.args!;
    assert.deepEqual(args.slice(5, 9), ["--snapshot", "latest", "--target", "/blobstash/volume"]);
    assert.equal(built.job.spec?.activeDeadlineSeconds, undefined);
  });

  it("gives a session without timeOut the operator's default deadline, so its SAS does not outlive it by a day", () => {
    const built = buildRestoreJob({ ...input({ timeOut: undefined }), options: { defaultTimeOut: "6h" } });
    assert.ok(built.ok);
    assert.equal(built.job.spec?.activeDeadlineSeconds, 6 * 3600);
    const args = built.job.spec!.template.spec!.containers[0]!.args!;
    assert.deepEqual(args.slice(args.indexOf("--timeout"), args.indexOf("--timeout") + 4), ["--timeout", "6h", "--deadline", "2026-11-30T08:00:00.000Z"]);
    const own = buildRestoreJob({ ...input({ timeOut: "30m" }), options: { defaultTimeOut: "6h" } });
    assert.ok(own.ok);
    assert.equal(own.job.spec?.activeDeadlineSeconds, 1800, "the session's own timeOut wins");
  });

  it("lets a session restoring from another namespace's Repository see only its own namespace's snapshots, unless the Repository allows all", () => {
    const shared = (snapshots?: { from?: "Same" | "All" }): RestoreJobInput => {
      const i = input();
      return { ...i, repository: { ...i.repository, metadata: { name: "azure-repo", namespace: "storage" }, spec: { ...i.repository.spec, ...(snapshots ? { usagePolicy: { snapshots } } : {}) } } };
    };
    const argsOf = (i: RestoreJobInput) => {
      const built = buildRestoreJob(i);
      assert.ok(built.ok);
      return built.job.spec!.template.spec!.containers[0]!.args!;
    };
    const args = argsOf(shared());
    assert.deepEqual(args.slice(args.indexOf("--snapshot-namespace"), args.indexOf("--snapshot-namespace") + 2), ["--snapshot-namespace", "demo"]);
    assert.ok(argsOf(shared({ from: "Same" })).includes("--snapshot-namespace"));
    assert.ok(!argsOf(shared({ from: "All" })).includes("--snapshot-namespace"), "the owner allows every snapshot");
    assert.ok(!argsOf(input()).includes("--snapshot-namespace"), "the Repository's own namespace sees every snapshot");
  });

  it("turns rule paths into anchored includes through volumeMounts", () => {
    const mounts = [{ name: "d", mountPath: "/source/data" }];
    assert.deepEqual(ruleArgs({ snapshots: ["4bc21d6f"], paths: ["/source/data/db", "/source/data"], include: ["*.conf"] }, mounts), [
      "--snapshot",
      "4bc21d6f",
      "--include",
      "/db",
      "--include",
      "*.conf",
    ]);
    assert.deepEqual(ruleArgs({ exclude: ["/source/data/cache", "*.tmp"] }, mounts), ["--snapshot", "latest", "--exclude", "/cache", "--exclude", "*.tmp"]);
  });

  it("says what happens to data the target already holds: the snapshot's version where they differ, nothing deleted, unless the session chooses", () => {
    assert.deepEqual(existingDataArgs({}), ["--overwrite", "if-changed"]);
    assert.deepEqual(existingDataArgs({ overwrite: "Never" }), ["--overwrite", "never"]);
    assert.deepEqual(existingDataArgs({ overwrite: "IfNewer", deleteExtraFiles: true }), ["--overwrite", "if-newer", "--delete"]);
    assert.deepEqual(existingDataArgs({ overwrite: "Always", deleteExtraFiles: false }), ["--overwrite", "always"]);
    const built = buildRestoreJob(input({ overwrite: "Always", deleteExtraFiles: true }));
    assert.ok(built.ok);
    const args = built.job.spec!.template.spec!.containers[0]!.args!;
    assert.deepEqual(args.slice(args.indexOf("--overwrite"), args.indexOf("--overwrite") + 3), ["--overwrite", "always", "--delete"]);
  });

  it("refuses what a restore Job cannot do", () => {
    const built = buildRestoreJob(input({ target: { ref: { kind: "StatefulSet", name: "db" }, rules: [{ include: ["/a"], exclude: ["/b"] }] } }));
    assert.ok(!built.ok);
    assert.deepEqual(built.refusals.map((r) => r.field).sort(), ["spec.target.ref.kind", "spec.target.rules[0].exclude"]);
  });
});
