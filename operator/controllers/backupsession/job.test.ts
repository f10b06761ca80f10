import assert from "node:assert/strict";
import type { BackupConfiguration, BackupSession } from "../../api/backup.ts";
import type { Repository } from "../../api/repository.ts";
import { CREDENTIAL_KEYS, PROXY_KEYS } from "../jobs/pod.ts";
import { backupJobName, buildBackupJob, retentionArgs, type BackupJobInput } from "./job.ts";

function input(over: { config?: Partial<NonNullable<BackupConfiguration["spec"]>>; session?: Partial<BackupSession> } = {}): BackupJobInput {
  return {
    session: {
      apiVersion: "stash.appscode.com/v1beta1",
      kind: "BackupSession",
      metadata: { name: "nightly-1700000000", namespace: "demo", uid: "0b7e-uid" },
      spec: { invoker: { apiGroup: "stash.appscode.com", kind: "BackupConfiguration", name: "nightly" } },
      ...over.session,
    },
    config: {
      metadata: { name: "nightly", namespace: "demo" },
      spec: {
        repository: { name: "azure-repo" },
        schedule: "0 2 * * *",
        target: {
          ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "app-data" },
          paths: ["/source/data/db", "/source/data/conf"],
          exclude: ["*.tmp", "/source/data/db/cache"],
          volumeMounts: [{ name: "data", mountPath: "/source/data" }],
        },
        retentionPolicy: { name: "keep", keepLast: 5, keepDaily: 7, keepTags: ["gold"], prune: true },
        timeOut: "1h30m",
        ...over.config,
      },
    },
    repository: {
      metadata: { name: "azure-repo", namespace: "demo" },
      spec: { backend: { storageSecretName: "azure-secret", azure: { container: "backups", prefix: "/demo/app", maxConnections: 8 } } },
    } satisfies Repository,
    credentialsSecretName: "nightly-1700000000-backup-credentials",
    image: "ghcr.io/blobstash/blobstash:0.1.0",
    createdAt: new Date("2026-11-30T02:00:00Z"),
  };
}

describe("backup Job builder", () => {
  it("builds the Job a backup runs as", () => {
    const built = buildBackupJob(input());
    assert.ok(built.ok, JSON.stringify(!built.ok && built.refusals));
    const job = built.job;
    assert.equal(job.apiVersion, "batch/v1");
    assert.equal(job.kind, "Job");
    assert.equal(job.metadata?.name, "nightly-1700000000-backup");
    assert.equal(job.metadata?.namespace, "demo");
    assert.deepEqual(job.metadata?.ownerReferences, [
      { apiVersion: "stash.appscode.com/v1beta1", kind: "BackupSession", name: "nightly-1700000000", uid: "0b7e-uid", controller: true, blockOwnerDeletion: true },
    ]);
    const labels = {
      "app.kubernetes.io/name": "blobstash",
      "app.kubernetes.io/managed-by": "blobstash",
      "app.kubernetes.io/component": "backup",
      "blobstash.io/session-kind": "BackupSession",
      "blobstash.io/session": "nightly-1700000000",
      "blobstash.io/repository": "azure-repo",
      "blobstash.io/repository-namespace": "demo",
    };
    assert.deepEqual(job.metadata?.labels, labels);
    assert.equal(job.spec?.backoffLimit, 0);
    assert.equal(job.spec?.activeDeadlineSeconds, 5400);
    const pod = job.spec?.template.spec;
    assert.deepEqual(job.spec?.template.metadata?.labels, labels);
    assert.equal(pod?.restartPolicy, "Never");
    assert.equal(pod?.automountServiceAccountToken, false);
    // Root, so a volume's files are readable whatever their owner; see the capabilities below.
    assert.deepEqual(pod?.securityContext, { runAsUser: 0, runAsGroup: 0, seccompProfile: { type: "RuntimeDefault" } });
    assert.deepEqual(pod?.volumes, [
      { name: "target", persistentVolumeClaim: { claimName: "app-data", readOnly: true } },
      { name: "scratch", emptyDir: {} },
    ]);
    const c = pod?.containers[0];
    assert.equal(pod?.containers.length, 1);
    assert.equal(c?.image, "ghcr.io/blobstash/blobstash:0.1.0");
    assert.deepEqual(c?.command, ["blobstash"]);
    assert.deepEqual(c?.args, [
      "backup",
      "--repo",
      "azure:backups:/demo/app",
      "--option",
      "azure.connections=8",
      "--source",
      "/blobstash/volume",
      "--path",
      "db",
      "--path",
      "conf",
      "--exclude",
      "*.tmp",
      "--exclude",
      "/blobstash/volume/db/cache",
      "--host",
      "host-0",
      "--tag",
      "demo/nightly",
      "--keep-last",
      "5",
      "--keep-daily",
      "7",
      "--keep-tag",
      "gold",
      "--prune",
      "--cache-dir",
      "/blobstash/scratch/cache",
      "--result-file",
      "/dev/termination-log",
      "--timeout",
      "1h30m",
      // activeDeadlineSeconds counts from the Job's start: the wrapper is told when that ends.
      "--deadline",
      "2026-11-30T03:30:00.000Z",
    ]);
    // Reading any file is all a backup may do beyond an unprivileged process: within PSS baseline.
    assert.deepEqual(c?.securityContext, { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"], add: ["DAC_OVERRIDE"] } });
    assert.deepEqual(c?.volumeMounts, [
      { name: "target", mountPath: "/blobstash/volume", readOnly: true },
      { name: "scratch", mountPath: "/blobstash/scratch" },
    ]);
    assert.equal(c?.terminationMessagePath, "/dev/termination-log");
    assert.equal(c?.terminationMessagePolicy, "FallbackToLogsOnError");
    assert.deepEqual(c?.env, [
      ...CREDENTIAL_KEYS.map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: "nightly-1700000000-backup-credentials", key } } })),
      // The operator's proxy settings, where it has them, come through the same Secret.
      ...PROXY_KEYS.map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: "nightly-1700000000-backup-credentials", key, optional: true } } })),
      { name: "TMPDIR", value: "/blobstash/scratch/tmp" },
      { name: "HOME", value: "/blobstash/scratch" },
    ]);
  });

  it("never puts a credential value in the Job", () => {
    const built = buildBackupJob(input());
    assert.ok(built.ok);
    for (const e of built.job.spec?.template.spec?.containers[0]?.env ?? []) {
      if ((CREDENTIAL_KEYS as readonly string[]).includes(e.name)) assert.equal(e.value, undefined, e.name);
    }
    assert.doesNotMatch(JSON.stringify(built.job), /AZURE_ACCOUNT_KEY|AccountKey=|sig=/);
  });

  it("points every path in args and env values into a mount (the root filesystem is read-only)", () => {
    const built = buildBackupJob(input());
    assert.ok(built.ok);
    const c = built.job.spec!.template.spec!.containers[0]!;
    const mounts = [...(c.volumeMounts ?? []).map((m) => m.mountPath), c.terminationMessagePath!];
    const pathValues = [...(c.args ?? []), ...(c.env ?? []).map((e) => e.value ?? "")].filter((v) => v.startsWith("/"));
    for (const v of pathValues) assert.ok(mounts.some((m) => v === m || v.startsWith(`${m}/`)), v);
  });

  it("takes resources, pod placement, security and scratch settings from the spec, then the operator's defaults", () => {
    const built = buildBackupJob({
      ...input({
        config: {
          runtimeSettings: {
            container: { resources: { limits: { memory: "1Gi" } } },
            pod: { nodeSelector: { disk: "ssd" }, priorityClassName: "backup", securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 } },
          },
          tempDir: { medium: "Memory", sizeLimit: "512Mi", disableCaching: true },
          retentionPolicy: { name: "none", prune: false },
          timeOut: undefined,
          target: { ref: { kind: "PersistentVolumeClaim", name: "app-data" }, alias: "app" },
        },
      }),
      options: { resources: { requests: { cpu: "100m" } }, imagePullPolicy: "IfNotPresent", extraEnv: [{ name: "HTTPS_PROXY", value: "http://proxy:3128" }, { name: "TMPDIR", value: "/evil" }], progressInterval: "30s", labels: { team: "ops" } },
    });
    assert.ok(built.ok);
    const job = built.job;
    const pod = job.spec!.template.spec!;
    const c = pod.containers[0]!;
    assert.equal(job.spec?.activeDeadlineSeconds, undefined);
    assert.deepEqual(c.resources, { limits: { memory: "1Gi" } });
    assert.equal(c.imagePullPolicy, "IfNotPresent");
    assert.deepEqual(pod.nodeSelector, { disk: "ssd" });
    assert.equal(pod.priorityClassName, "backup");
    assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000, seccompProfile: { type: "RuntimeDefault" } });
    // A non-root process would lose added capabilities at exec: none are asked for.
    assert.deepEqual(c.securityContext, { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    assert.deepEqual(pod.volumes?.[1], { name: "scratch", emptyDir: { medium: "Memory", sizeLimit: "512Mi" } });
    assert.equal(job.metadata?.labels?.team, "ops");
    const args = c.args!;
    assert.ok(args.includes("--no-cache") && !args.includes("--cache-dir"));
    assert.deepEqual(args.slice(args.indexOf("--source"), args.indexOf("--source") + 4), ["--source", "/blobstash/volume", "--path", "."]);
    assert.deepEqual(args.slice(args.indexOf("--host"), args.indexOf("--host") + 2), ["--host", "app"]);
    assert.ok(!args.some((a) => a.startsWith("--keep") || a === "--prune"));
    assert.deepEqual(args.slice(-2), ["--progress-interval", "30s"]);
    // The operator's extra env cannot replace what the Job needs.
    assert.equal(c.env?.filter((e) => e.name === "TMPDIR").length, 1);
    assert.ok(c.env?.some((e) => e.name === "HTTPS_PROXY"));
  });

  it("mounts the operator's extra CA from the Job's Secret and tells the wrapper where it is", () => {
    const built = buildBackupJob({ ...input(), options: { extraCa: true } });
    assert.ok(built.ok);
    const pod = built.job.spec!.template.spec!;
    const c = pod.containers[0]!;
    assert.deepEqual(pod.volumes?.at(-1), { name: "trust", secret: { secretName: "nightly-1700000000-backup-credentials", items: [{ key: "ca.crt", path: "ca.crt" }] } });
    assert.deepEqual(c.volumeMounts?.at(-1), { name: "trust", mountPath: "/blobstash/ca", readOnly: true });
    assert.deepEqual(c.env?.find((e) => e.name === "BLOBSTASH_EXTRA_CA_FILE"), { name: "BLOBSTASH_EXTRA_CA_FILE", value: "/blobstash/ca/ca.crt" });
  });

  it("refuses unsupported fields and non-Azure repositories instead of building", () => {
    const hooks = buildBackupJob(input({ config: { hooks: { preBackup: {} } } }));
    assert.ok(!hooks.ok);
    assert.deepEqual(hooks.refusals.map((r) => r.field), ["spec.hooks"]);
    const s3 = buildBackupJob({ ...input(), repository: { metadata: { name: "s3-repo" }, spec: { backend: { s3: { bucket: "b" } } } } });
    assert.ok(!s3.ok);
    assert.match(s3.refusals[0]!.message, /no Azure backend/);
    const anonymous = buildBackupJob(input({ session: { metadata: { name: "x", namespace: "demo" } } }));
    assert.ok(!anonymous.ok);
  });

  it("is deterministic", () => {
    assert.deepEqual(buildBackupJob(input()), buildBackupJob(input()));
  });

  it("names Jobs within 63 characters, deterministically", () => {
    assert.equal(backupJobName("nightly-1"), "nightly-1-backup");
    const long = "a-very-long-backup-configuration-name-that-goes-on-1700000000000";
    const name = backupJobName(long);
    assert.ok(name.length <= 63, name);
    assert.match(name, /^a-very-long-backup-configuration-name-th[a-z-]*-[0-9a-f]{8}-backup$/);
    assert.equal(backupJobName(long), name);
    assert.notEqual(backupJobName(`${long}x`), name);
    assert.match(backupJobName("dotted.name"), /^dotted-name-[0-9a-f]{8}-backup$/);
  });

  it("adds retention flags only with a keep rule", () => {
    assert.deepEqual(retentionArgs(undefined), []);
    assert.deepEqual(retentionArgs({ name: "x", prune: true, dryRun: true }), []);
    assert.deepEqual(retentionArgs({ name: "x", keepHourly: 24, keepWeekly: 4, keepMonthly: 6, keepYearly: 1, prune: false, dryRun: true }), [
      "--keep-hourly",
      "24",
      "--keep-weekly",
      "4",
      "--keep-monthly",
      "6",
      "--keep-yearly",
      "1",
      "--dry-run",
    ]);
  });
});
