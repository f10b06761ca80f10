// Backups and restores end to end: BackupSession -> Job -> `blobstash backup` (restic) -> Azurite ->
// RestoreSession -> a second PVC, on the real API server, job controller and garbage collector, with
// the operator running as the Helm chart's ServiceAccount. The data is a tree with what real volumes
// hold; the restore must give it back byte for byte, with modes, times and symlinks. Along the way:
// no account key reaches a Job, a restore's credentials cannot write, sessions on one Repository
// queue, and sessions that cannot work fail with their reason before any Job exists.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ContainerClient, RestError } from "@azure/storage-blob";
import type { V1Job, V1Pod, V1Secret } from "@kubernetes/client-node";
import { formatBytes } from "../operator/api/bytes.ts";
import { cluster } from "./fixture.ts";
import { BackupEnv, CONTAINER } from "./backup-restore/harness.ts";
import { record, type Recorder } from "./backup-restore/recorder.ts";
import { mixedTree, summarize } from "./backup-restore/tree.ts";
import { podLogFiles } from "./cluster/node-logs.ts";
import { diffTrees, type TreeEntry } from "./support/tree.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const PREFIX = `/e2e/backup-restore-${id}`;

describe("backup and restore of a PVC (real API server, job controller, Azurite, restic)", function () {
  this.timeout(120_000);
  let env: BackupEnv;
  let jobs: Recorder<V1Job>;
  let pods: Recorder<V1Pod>;
  let secrets: Recorder<V1Secret>;
  let source: TreeEntry[];
  let snapshotId = "";

  before(async function () {
    this.timeout(120_000);
    env = new BackupEnv(cluster(), `e2e-backup-${id}`, `operator-backup-${id}`);
    await env.setUp();
    // As a cluster that runs Pod Security admission would have it: the Job pods must be admitted under baseline.
    await env.kubectl(["label", "namespace", env.ns, "pod-security.kubernetes.io/enforce=baseline"]);
    jobs = await env.recordJobs();
    pods = await record<V1Pod>(env.kc, `/api/v1/namespaces/${env.ns}/pods`, { labelSelector: "app.kubernetes.io/managed-by=blobstash" });
    secrets = await record<V1Secret>(env.kc, `/api/v1/namespaces/${env.ns}/secrets`, { labelSelector: "app.kubernetes.io/managed-by=blobstash" });
    await env.storageSecret("azure-secret", PASSWORD);
    await env.repository("main", "azure-secret", PREFIX);
    await env.pvc("source");
    await env.writeTree("source", mixedTree({ bigMiB: 24, smallFiles: 300 }));
    source = await env.readTree("source");
    await env.pvc("restored");
    // Stash's default history limit (1) would delete sessions this file still looks at.
    await env.backupConfiguration("data", { repository: { name: "main" }, timeOut: "10m", backupHistoryLimit: 10 });
  });

  after(async function () {
    for (const r of [jobs, pods, secrets]) r?.stop();
    await env?.tearDown();
  });

  it("backs up a mixed tree and restores it into another PVC byte for byte, with owners, modes, times, symlinks and hard links, in a namespace that enforces Pod Security baseline", async function () {
    assert.equal((await env.core.readNamespace({ name: env.ns })).metadata?.labels?.["pod-security.kubernetes.io/enforce"], "baseline");
    const counts = summarize(source);
    assert.ok(counts.files > 300 && counts.symlinks === 4 && counts.bytes > 24 << 20, `the tree is what it claims: ${JSON.stringify(counts)}`);
    for (const uid of [0, 999, 1000, 65534]) assert.ok(source.some((e) => e.uid === uid), `the tree holds files of uid ${uid}`);
    for (const mode of ["400", "600", "640", "700", "2775"]) assert.ok(source.some((e) => e.mode === mode), `the tree holds mode ${mode}`);
    // A hard link is one file with two names: restic counts it once.
    const distinctFiles = counts.files - source.filter((e) => e.type === "file" && (e.links ?? 1) > 1).length / 2;
    const startedAt = Date.now();
    await env.backupSession("first", "data");
    const backup = await env.waitForPhase("backupsessions", "first", ["Succeeded"], 90_000);

    const st = backup.status!;
    assert.equal(st.conditions?.find((c) => c.type === "Completed")?.reason, "Succeeded");
    assert.match(st.snapshot ?? "", /^[0-9a-f]{64}$/);
    snapshotId = st.snapshot!;
    assert.equal(st.repository, "main");
    assert.ok(st.sessionDuration, "sessionDuration is set");
    const target = st.targets?.[0];
    assert.deepEqual(target?.ref, { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "source" });
    assert.equal(target?.phase, "Succeeded");
    const snap = target?.stats?.[0]?.snapshots?.[0];
    assert.equal(snap?.name, snapshotId);
    // restic's file counts are regular files only; a hard-linked file counts for each of its names.
    assert.deepEqual(snap?.fileStats, { totalFiles: counts.files, newFiles: counts.files, modifiedFiles: 0, unmodifiedFiles: 0 });
    assert.ok(distinctFiles < counts.files, "the tree has a hard link");
    assert.equal(snap?.totalSize, formatBytes(counts.bytes));
    assert.ok(snap?.uploaded && snap.processingTime);

    // What restic itself says is in the repository.
    const snaps = await env.snapshots(PREFIX, PASSWORD);
    assert.deepEqual(snaps.map((s) => s.id), [snapshotId]);
    assert.deepEqual(snaps[0]!.tags, [`${env.ns}/data`]);
    assert.equal(snaps[0]!.hostname, "host-0");

    const repo = (await env.getRepository("main")).status!;
    assert.equal(repo.snapshotCount, 1);
    assert.match(repo.totalSize ?? "", /^\d+(\.\d+)? MiB$/);
    assert.ok(repo.lastBackupTime && repo.firstBackupTime === repo.lastBackupTime, `first = last backup time: ${repo.firstBackupTime} ${repo.lastBackupTime}`);
    const last = Date.parse(repo.lastBackupTime);
    assert.ok(last >= Math.floor(startedAt / 1000) * 1000 && last <= Date.now(), `lastBackupTime ${repo.lastBackupTime} is this backup's`);

    await env.restoreSession("restore", "main", "restored");
    const restore = await env.waitForPhase("restoresessions", "restore", ["Succeeded"], 90_000);
    assert.equal(restore.status?.snapshot, snapshotId);
    // restic's restore counts every entry it wrote: files, symlinks and directories.
    assert.equal(restore.status?.filesRestored, source.length);
    // A hard-linked file's bytes are written once.
    const linkedTwice = source.filter((e) => e.type === "file" && (e.links ?? 1) > 1).reduce((n, e) => n + (e.size ?? 0), 0) / 2;
    assert.equal(restore.status?.bytesRestored, counts.bytes - linkedTwice);
    assert.deepEqual(diffTrees(source, await env.readTree("restored")), []);
  });

  it("gives Jobs no account key: the Job, its Pod, its credentials Secret and its logs hold none", async function () {
    const key = cluster().azurite.key;
    const forms = [key, Buffer.from(key).toString("base64"), encodeURIComponent(key)];
    const backupJobs = BackupEnv.jobsOf(jobs, "first");
    const restoreJobs = BackupEnv.jobsOf(jobs, "restore");
    assert.equal(backupJobs.length, 1);
    assert.equal(restoreJobs.length, 1);
    const podsSeen = [...pods.byUid().values()];
    assert.equal(podsSeen.length, 2, "one pod per Job");
    const secretsSeen = [...secrets.byUid().values()];
    assert.deepEqual(secretsSeen.map((s) => s.metadata?.name).sort(), ["first-backup-credentials", "restore-restore-credentials"]);

    for (const obj of [...backupJobs, ...restoreJobs, ...podsSeen]) {
      const json = JSON.stringify(obj);
      for (const f of forms) assert.ok(!json.includes(f), `${obj.kind ?? "Pod"} ${obj.metadata?.name} holds the account key`);
      // Credentials reach the container only by reference.
      for (const e of obj.spec && "template" in obj.spec ? obj.spec.template.spec!.containers[0]!.env! : (obj as V1Pod).spec!.containers[0]!.env!) {
        if (["RESTIC_PASSWORD", "AZURE_ACCOUNT_SAS", "AZURE_ACCOUNT_NAME"].includes(e.name)) assert.ok(e.valueFrom?.secretKeyRef && e.value === undefined, `${e.name} is a reference`);
      }
    }
    for (const s of secretsSeen) {
      const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
      // The chart's proxy and extra CA reach the Job through the same Secret.
      assert.deepEqual(Object.keys(data).sort(), ["AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_SAS", "AZURE_ENDPOINT_SUFFIX", "HTTPS_PROXY", "RESTIC_PASSWORD", "ca.crt"]);
      assert.equal(data.HTTPS_PROXY, cluster().podProxyUrl);
      for (const v of Object.values(data)) for (const f of forms) assert.ok(!v.includes(f), `Secret ${s.metadata?.name} holds the account key`);
      assert.equal(s.metadata?.ownerReferences?.[0]?.kind, s.metadata?.name?.startsWith("first") ? "BackupSession" : "RestoreSession");
      // Expires shortly after the Job's deadline (no timeOut on the restore: the operator's 6 h default), plus 15 min slack.
      const se = Date.parse(new URLSearchParams(data.AZURE_ACCOUNT_SAS!).get("se")!);
      const deadlineMs = s.metadata?.name?.startsWith("first") ? 10 * 60_000 : 6 * 3600_000;
      const created = Date.parse(String(s.metadata?.creationTimestamp));
      assert.ok(se > created + deadlineMs && se <= created + deadlineMs + 16 * 60_000, `SAS of ${s.metadata?.name} expires ${new Date(se).toISOString()}`);
    }
    // The per-Job Secrets die with their sessions' Jobs.
    const live = await env.core.listNamespacedSecret({ namespace: env.ns, labelSelector: "app.kubernetes.io/managed-by=blobstash" });
    assert.deepEqual(live.items.map((s) => s.metadata?.name), []);

    // The container logs as the nodes' kubelets keep them (/var/log/pods), after the pods are gone.
    const logs = podLogFiles(cluster(), env.ns, "restic");
    assert.equal(logs.length, 2, logs.join(", "));
    for (const f of logs) {
      const log = await readFile(f, "utf8");
      assert.match(log, /"message":"(backup|restore) Succeeded"/);
      for (const secret of [...forms, PASSWORD]) assert.ok(!log.includes(secret), `pod log ${f} holds a secret`);
    }
  });

  it("gives a restore Job a SAS that reads and lists but cannot write", async function () {
    const restoreSecret = [...secrets.byUid().values()].find((s) => s.metadata?.name === "restore-restore-credentials")!;
    const sas = Buffer.from(restoreSecret.data!.AZURE_ACCOUNT_SAS!, "base64").toString("utf8");
    const params = new URLSearchParams(sas);
    assert.equal(params.get("sp"), "rl");
    assert.equal(params.get("sr"), "c", "scoped to the container");
    const az = cluster().azurite;
    const container = new ContainerClient(`https://${az.account}.blob.${az.endpointSuffix}/${CONTAINER}?${sas}`);

    const listed: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix: `${PREFIX.slice(1)}/` })) listed.push(b.name);
    assert.ok(listed.includes(`${PREFIX.slice(1)}/config`), `lists the repository: ${listed.slice(0, 5).join(", ")}`);
    const config = await container.getBlobClient(`${PREFIX.slice(1)}/config`).downloadToBuffer();
    assert.ok(config.length > 0, "reads the repository");

    const write = await container.getBlockBlobClient(`${PREFIX.slice(1)}/locks/forged`).upload("x", 1).then(() => undefined, (err: unknown) => err);
    assert.ok(write instanceof RestError, `upload must fail: ${String(write)}`);
    assert.equal(write.statusCode, 403);
    const del = await container.getBlobClient(`${PREFIX.slice(1)}/config`).delete().then(() => undefined, (err: unknown) => err);
    assert.ok(del instanceof RestError && del.statusCode === 403, `delete must fail: ${String(del)}`);
  });

  it("queues a second session on the same Repository until the first one's Job is done, then runs it", async function () {
    const sessions = await record(env.kc, `/apis/stash.appscode.com/v1beta1/namespaces/${env.ns}/backupsessions`);
    try {
      await env.backupSession("queued-a", "data");
      await env.backupSession("queued-b", "data");
      const a = await env.waitForPhase("backupsessions", "queued-a", ["Succeeded"], 90_000);
      const b = await env.waitForPhase("backupsessions", "queued-b", ["Succeeded"], 90_000);
      const [jobA] = BackupEnv.jobsOf(jobs, "queued-a");
      const [jobB] = BackupEnv.jobsOf(jobs, "queued-b");
      assert.ok(jobA && jobB, "each session ran a Job");
      const [first, second] = Date.parse(String(jobA.metadata?.creationTimestamp)) <= Date.parse(String(jobB.metadata?.creationTimestamp)) ? [jobA, jobB] : [jobB, jobA];
      const secondSession = second.metadata?.labels?.["blobstash.io/session"];
      const phases = sessions.events
        .filter((e) => e.object.metadata?.name === secondSession)
        .map((e) => {
          const s = e.object as { status?: { phase?: string; conditions?: Array<{ reason?: string; message?: string }> } };
          return `${s.status?.phase ?? "-"}/${s.status?.conditions?.[0]?.reason ?? "-"}`;
        });
      assert.ok(phases.includes("Pending/Queued"), `${secondSession} waited as Pending/Queued: ${phases.join(" ")}`);
      assert.ok(phases.indexOf("Pending/Queued") < phases.indexOf("Running/JobStarted"), `then ran: ${phases.join(" ")}`);
      // The second Job was created only after the first one had finished.
      assert.ok(first.status?.completionTime, "the first Job completed");
      assert.ok(Date.parse(String(second.metadata?.creationTimestamp)) >= Math.floor(Date.parse(String(first.status.completionTime)) / 1000) * 1000);
      // Nothing changed in between: the second and third snapshots reuse everything.
      for (const s of [a, b]) assert.equal(s.status?.targets?.[0]?.stats?.[0]?.snapshots?.[0]?.fileStats?.newFiles, 0);

      const repo = (await env.getRepository("main")).status!;
      assert.equal(repo.snapshotCount, 3);
      assert.ok(Date.parse(repo.lastBackupTime!) > Date.parse(repo.firstBackupTime!), `${repo.firstBackupTime} < ${repo.lastBackupTime}`);
      assert.equal((await env.snapshots(PREFIX, PASSWORD)).length, 3);
    } finally {
      sessions.stop();
    }
  });

  it("fails a restore of a snapshot that does not exist with SnapshotNotFound, writing nothing", async function () {
    await env.pvc("restored-missing");
    await env.restoreSession("missing-snapshot", "main", "restored-missing", { snapshots: ["deadbeef"] });
    const s = await env.waitForPhase("restoresessions", "missing-snapshot", ["Failed"], 60_000);
    const c = s.status?.conditions?.find((x) => x.type === "Completed");
    assert.equal(c?.reason, "SnapshotNotFound");
    assert.match(c?.message ?? "", /deadbeef/);
    assert.equal(BackupEnv.jobsOf(jobs, "missing-snapshot").length, 1);
    assert.deepEqual(await env.readTree("restored-missing"), []);
  });

  it("fails a backup or a restore whose PVC does not exist before any Job is made", async function () {
    await env.backupConfiguration("no-pvc", { repository: { name: "main" } }, "does-not-exist");
    await env.backupSession("no-pvc", "no-pvc");
    await env.restoreSession("no-pvc", "main", "does-not-exist");
    for (const kind of ["backupsessions", "restoresessions"] as const) {
      const s = await env.waitForPhase(kind, "no-pvc", ["Failed"], 30_000);
      const c = s.status?.conditions?.find((x) => x.type === "Completed");
      assert.equal(c?.reason, "TargetNotFound");
      assert.match(c?.message ?? "", /PersistentVolumeClaim .*\/does-not-exist does not exist/);
    }
    assert.equal(BackupEnv.jobsOf(jobs, "no-pvc").length, 0, "no Job was ever created");
    assert.equal(await env.jobExists("no-pvc-backup"), false);
    assert.equal(await env.jobExists("no-pvc-restore"), false);
  });
});
