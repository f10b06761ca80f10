import assert from "node:assert/strict";
import type { BackupConfigurationSpec, RestoreSessionSpec } from "../../api/backup.ts";
import { unsupportedBackupFields, unsupportedRestoreFields } from "./unsupported.ts";

const pvc = { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data" };

describe("unsupported fields", () => {
  it("accepts a plain PVC backup, including Stash's pvc-backup task", () => {
    const spec: BackupConfigurationSpec = {
      repository: { name: "repo" },
      task: { name: "pvc-backup" },
      driver: "Restic",
      schedule: "0 2 * * *",
      target: { ref: pvc, paths: ["/source/data"], exclude: ["*.tmp", "/source/data/cache"], volumeMounts: [{ name: "d", mountPath: "/source/data" }], alias: "app" },
      retentionPolicy: { name: "keep", keepLast: 5, prune: true },
      runtimeSettings: { container: { resources: { limits: { memory: "1Gi" } } }, pod: { nodeSelector: { a: "b" }, securityContext: { runAsUser: 1000, fsGroup: 2000 } } },
      tempDir: { medium: "Memory", sizeLimit: "1Gi", disableCaching: false },
      timeOut: "1h30m",
    };
    assert.deepEqual(unsupportedBackupFields(spec, "demo", { invoker: { apiGroup: "stash.appscode.com", kind: "BackupConfiguration", name: "x" } }), []);
  });

  it("names every unsupported Stash field of a backup", () => {
    const spec = {
      repository: { name: "repo" },
      driver: "VolumeSnapshotter",
      task: { name: "mysql-backup-8.0" },
      hooks: { preBackup: { exec: { command: ["sync"] } } },
      interimVolumeTemplate: { spec: {} },
      retryConfig: { maxRetry: 3 },
      timeOut: "soon",
      runtimeSettings: { container: { nice: { adjustment: 5 } }, pod: { serviceAccountName: "x", securityContext: { runAsUser: 0, privileged: true } }, extra: {} },
      tempDir: { medium: "HugePages" },
      target: {
        ref: { apiVersion: "apps/v1", kind: "Deployment", name: "app", namespace: "other" },
        replicas: 2,
        volumeSnapshotClassName: "csi",
        args: ["--one-file-system"],
        paths: ["/etc"],
        exclude: ["/nope/x"],
        volumeMounts: [{ name: "d", mountPath: "/data" }],
        alias: "has space",
      },
    } as unknown as BackupConfigurationSpec;
    const fields = unsupportedBackupFields(spec, "demo", { invoker: { kind: "BackupBatch", name: "b" } }).map((r) => r.field);
    assert.deepEqual(fields.sort(), [
      "spec.driver",
      "spec.hooks",
      "spec.interimVolumeTemplate",
      "spec.invoker.kind",
      "spec.retryConfig",
      "spec.runtimeSettings.container.nice",
      "spec.runtimeSettings.extra",
      "spec.runtimeSettings.pod.securityContext.privileged",
      "spec.runtimeSettings.pod.securityContext.runAsUser",
      "spec.runtimeSettings.pod.serviceAccountName",
      "spec.target.alias",
      "spec.target.args",
      "spec.target.exclude[0]",
      "spec.target.paths[0]",
      "spec.target.ref.kind",
      "spec.target.ref.namespace",
      "spec.target.replicas",
      "spec.target.volumeSnapshotClassName",
      "spec.task",
      "spec.tempDir.medium",
      "spec.timeOut",
    ]);
    const kind = unsupportedBackupFields(spec, "demo").find((r) => r.field === "spec.target.ref.kind");
    assert.match(kind?.message ?? "", /target kind "Deployment" is not supported/);
  });

  it("requires a target", () => {
    assert.deepEqual(unsupportedBackupFields({ repository: { name: "r" } }, "demo").map((r) => r.field), ["spec.target"]);
    assert.deepEqual(unsupportedBackupFields(undefined, "demo").map((r) => r.field), ["spec"]);
  });

  it("accepts a plain restore and names what a restore cannot do", () => {
    const ok: RestoreSessionSpec = {
      repository: { name: "repo" },
      task: { name: "pvc-restore" },
      target: { ref: pvc, rules: [{ snapshots: ["latest"], sourceHost: "app", include: ["/data"], paths: ["/conf"] }] },
      timeOut: "30m",
    };
    assert.deepEqual(unsupportedRestoreFields(ok, "demo"), []);
    const bad = {
      repository: { name: "repo" },
      hooks: {},
      target: {
        ref: pvc,
        replicas: 3,
        volumeClaimTemplates: [{}],
        rules: [
          { targetHosts: ["host-1"], snapshots: ["abcd1234", "latest"], include: ["/a"], exclude: ["/b"] },
          { snapshots: ["yesterday"] },
        ],
      },
    } as unknown as RestoreSessionSpec;
    const fields = unsupportedRestoreFields(bad, "demo").map((r) => r.field);
    assert.deepEqual(fields.sort(), [
      "spec.hooks",
      "spec.target.replicas",
      "spec.target.rules",
      "spec.target.rules[0].exclude",
      "spec.target.rules[0].snapshots",
      "spec.target.rules[0].targetHosts",
      "spec.target.rules[1].snapshots",
      "spec.target.volumeClaimTemplates",
    ]);
  });
});
