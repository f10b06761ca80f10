// A partial backup is never a plain success. A Job that runs as a non-root uid (the admin asked for
// it in runtimeSettings, or the namespace enforces the Pod Security Standard `restricted`) says so on
// the session before it runs, and a backup that then meets files it cannot read ends
// PartiallyFailed: in `kubectl get backupsession`, in the metrics, as a Warning event, with the
// files named in the status. Real API server, Pod Security admission, kubelets, restic, Azurite.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { V1Job } from "@kubernetes/client-node";
import { cluster } from "./fixture.ts";
import { BackupEnv } from "./backup-restore/harness.ts";
import type { Recorder } from "./backup-restore/recorder.ts";
import { mustRunToolbox } from "./support/toolbox.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const PREFIX = `/e2e/partial-${id}`;

/** A volume with what a non-root reader meets: its own files, a 0600 file and a 0700 directory of other owners. */
const SCRIPT = [
  "set -eu",
  "chmod 755 /data",
  "mkdir -p /data/app /data/db",
  "echo public > /data/app/public.txt && chmod 644 /data/app/public.txt",
  "echo secret > /data/app/secret.txt && chown 999:999 /data/app/secret.txt && chmod 600 /data/app/secret.txt",
  "echo rows > /data/db/base && chown -R 999:999 /data/db && chmod 700 /data/db",
].join("\n");

describe("partial backups and non-root modes (real Pod Security admission, kubelets, restic)", function () {
  this.timeout(120_000);
  let env: BackupEnv;
  let jobs: Recorder<V1Job>;

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-partial-${id}`, `operator-partial-${id}`);
    await env.setUp();
    jobs = await env.recordJobs();
    await env.storageSecret("azure-secret", PASSWORD);
    await env.repository("main", "azure-secret", PREFIX);
    await env.pvc("source");
    await mustRunToolbox(env.core, { namespace: env.ns, pvc: "source", name: "write", script: SCRIPT });
  });

  after(async function () {
    jobs?.stop();
    await env?.tearDown();
  });

  const condition = (s: Awaited<ReturnType<BackupEnv["getSession"]>>, type: string) => s?.status?.conditions?.find((c) => c.type === type);

  it("says before the Job runs what a non-root uid cannot read, then ends PartiallyFailed naming the unreadable files", async function () {
    await env.backupConfiguration("nonroot", { repository: { name: "main" }, backupHistoryLimit: 5, runtimeSettings: { pod: { securityContext: { runAsUser: 1000, runAsGroup: 1000 } } } }, "source");
    await env.backupSession("nonroot-1", "nonroot");
    const done = await env.waitForPhase("backupsessions", "nonroot-1", ["PartiallyFailed"], 90_000);
    const st = done.status!;

    // Said before the Job existed.
    const notice = condition(done, "NonRootMode");
    assert.equal(notice?.reason, "NonRootRequested", JSON.stringify(st.conditions));
    assert.match(notice?.message ?? "", /runs as uid 1000 .*cannot read files and directories that uid 1000 may not read/);
    const [job] = BackupEnv.jobsOf(jobs, "nonroot-1");
    assert.ok(job, "the session's Job was recorded");
    assert.ok(Date.parse(notice!.lastTransitionTime) <= Date.parse(String(job.metadata!.creationTimestamp)), `notice at ${notice!.lastTransitionTime}, Job created ${job.metadata!.creationTimestamp}`);
    assert.equal(job.spec?.template.spec?.securityContext?.runAsUser, 1000);

    // Visibly partial, with the files named.
    const completed = condition(done, "Completed");
    assert.equal(completed?.status, "False");
    assert.equal(completed?.reason, "PartialBackup");
    assert.match(completed?.message ?? "", /could not be read: .*\/app\/secret\.txt/);
    assert.equal(st.unreadableFiles?.count, 2, JSON.stringify(st.unreadableFiles));
    assert.deepEqual([...(st.unreadableFiles?.paths ?? [])].sort(), ["/app/secret.txt", "/db"]);
    assert.match(st.snapshot ?? "", /^[0-9a-f]{64}$/, "the snapshot that was made is reported");
    const row = await env.kubectl(["get", "backupsession", "-n", env.ns, "nonroot-1", "--no-headers"]);
    assert.match(row, /\bPartiallyFailed\s+PartialBackup\b/, `kubectl get backupsession: ${row}`);

    // The snapshot holds what uid 1000 could read and nothing else.
    const listed = (await env.restic(PREFIX, PASSWORD, ["ls", st.snapshot!])).split("\n").filter((l) => l.startsWith("/"));
    assert.ok(listed.includes("/app/public.txt"), listed.join(" "));
    assert.ok(!listed.includes("/app/secret.txt") && !listed.includes("/db/base"), listed.join(" "));

    // A Warning event, and the series a user alerts on.
    const events = await env.core.listNamespacedEvent({ namespace: env.ns, fieldSelector: "involvedObject.name=nonroot-1" });
    const warning = events.items.find((e) => e.reason === "PartialBackup");
    assert.equal(warning?.type, "Warning", JSON.stringify(events.items.map((e) => [e.type, e.reason])));
    assert.match(warning?.message ?? "", /\/app\/secret\.txt/);
    const metrics = await env.op.metrics();
    assert.match(metrics, /^blobstash_sessions_total\{kind="BackupSession",phase="PartiallyFailed"\} 1$/m);
    assert.match(metrics, new RegExp(`^blobstash_repository_last_backup_unreadable_files\\{namespace="${env.ns}",repository="main"\\} 2$`, "m"));
    assert.doesNotMatch(metrics, new RegExp(`^blobstash_repository_last_successful_backup_timestamp_seconds\\{namespace="${env.ns}"`, "m"), "a partial backup is no successful one");
  });

  it("runs as the image's non-root user where the namespace enforces restricted, and says what that cannot read", async function () {
    await env.kubectl(["label", "namespace", env.ns, "pod-security.kubernetes.io/enforce=restricted"]);
    await env.backupConfiguration("plain", { repository: { name: "main" }, backupHistoryLimit: 5 }, "source");
    await env.backupSession("plain-1", "plain");
    const done = await env.waitForPhase("backupsessions", "plain-1", ["PartiallyFailed"], 90_000);
    const notice = condition(done, "NonRootMode");
    assert.equal(notice?.reason, "PodSecurityRestricted", JSON.stringify(done.status?.conditions));
    assert.match(notice?.message ?? "", /uid 65532 .*enforces the Pod Security Standard "restricted"/);
    // Admitted by restricted: the pod ran (a pod restricted refuses never exists).
    const [job] = BackupEnv.jobsOf(jobs, "plain-1");
    const pod = job!.spec!.template.spec!;
    assert.equal(pod.securityContext?.runAsUser, 65532);
    assert.deepEqual(pod.containers[0]!.securityContext?.capabilities, { drop: ["ALL"] });
    assert.deepEqual([...(done.status?.unreadableFiles?.paths ?? [])].sort(), ["/app/secret.txt", "/db"]);
  });
});
