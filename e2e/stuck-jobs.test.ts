// No session hangs silently: a Job pod that cannot start shows the scheduler's own message on the
// session within seconds (condition PodStarted False), and after the bound the admin set
// (--pod-start-limit, the chart's operator.podStartLimit) the session fails with that reason and
// leaves no Job, pod or credentials Secret behind; the Repository's slot is free again. Real
// scheduler, job controller and garbage collector.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { V1Job } from "@kubernetes/client-node";
import { cluster } from "./fixture.ts";
import { BackupEnv } from "./backup-restore/harness.ts";
import type { Recorder } from "./backup-restore/recorder.ts";
import { waitFor } from "./cluster/wait.ts";
import { mustRunToolbox } from "./support/toolbox.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const LIMIT_S = 20;

describe("Jobs whose pod cannot start (real scheduler, job controller, garbage collector)", function () {
  this.timeout(120_000);
  let env: BackupEnv;
  let jobs: Recorder<V1Job>;

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-stuck-${id}`, `operator-stuck-${id}`);
    await env.setUp([`--pod-start-limit=${LIMIT_S}s`]);
    jobs = await env.recordJobs();
    await env.storageSecret("azure-secret", PASSWORD);
    await env.repository("main", "azure-secret", `/e2e/stuck-${id}`);
    await env.pvc("source");
    await mustRunToolbox(env.core, { namespace: env.ns, pvc: "source", name: "write", script: "echo data > /data/file" });
  });

  after(async function () {
    jobs?.stop();
    await env?.tearDown();
  });

  it("shows the scheduler's message within seconds, fails at the bound with nothing left behind, and frees the slot", async function () {
    const nowhere = { pod: { nodeSelector: { "e2e.blobstash.io/nowhere": "true" } } };
    await env.backupConfiguration("nowhere", { repository: { name: "main" }, backupHistoryLimit: 5, runtimeSettings: nowhere }, "source");
    await env.backupSession("nowhere-1", "nowhere");

    let shown: { reason: string; message: string; lastTransitionTime: string } | undefined;
    await waitFor("the session to show why its pod waits", async () => {
      shown = (await env.getSession("backupsessions", "nowhere-1"))?.status?.conditions?.find((c) => c.type === "PodStarted");
      return shown?.reason === "Unschedulable";
    }, { timeoutMs: 30_000, intervalMs: 100 });
    const job = BackupEnv.jobsOf(jobs, "nowhere-1")[0]!;
    const jobCreated = Date.parse(String(job.metadata!.creationTimestamp));
    const shownAfter = Date.parse(shown!.lastTransitionTime) - jobCreated;
    assert.ok(shownAfter <= 5_000, `the scheduler's reason reached the session ${shownAfter} ms after the Job was created`);
    // The scheduler's own words.
    assert.match(shown!.message, /0\/2 nodes are available: 2 node\(s\) didn't match Pod's node affinity\/selector/, shown!.message);
    const running = await env.getSession("backupsessions", "nowhere-1");
    assert.equal(running?.status?.phase, "Running", "still within the bound");

    const failed = await env.waitForPhase("backupsessions", "nowhere-1", ["Failed"], (LIMIT_S + 30) * 1000);
    const failedAt = Date.now();
    const completed = failed.status?.conditions?.find((c) => c.type === "Completed");
    assert.equal(completed?.reason, "Unschedulable");
    assert.match(completed?.message ?? "", new RegExp(`did not start within ${LIMIT_S}s .*didn't match Pod's node affinity/selector`));
    const took = Date.parse(completed!.lastTransitionTime) - jobCreated;
    assert.ok(took >= (LIMIT_S - 1) * 1000 && took <= (LIMIT_S + 10) * 1000, `failed ${took} ms after the Job was created (bound ${LIMIT_S}s)`);

    // Nothing left behind: no Job, no pod, no credentials Secret.
    await waitFor("the Job and its pod to be gone", async () => {
      const pods = await env.core.listNamespacedPod({ namespace: env.ns, labelSelector: "blobstash.io/session=nowhere-1" });
      return !(await env.jobExists("nowhere-1-backup")) && pods.items.length === 0;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    const secrets = await env.core.listNamespacedSecret({ namespace: env.ns, labelSelector: "app.kubernetes.io/managed-by=blobstash" });
    assert.deepEqual(secrets.items.map((s) => s.metadata?.name), []);
    const events = await env.core.listNamespacedEvent({ namespace: env.ns, fieldSelector: "involvedObject.name=nowhere-1" });
    assert.ok(events.items.some((e) => e.type === "Warning" && e.reason === "Unschedulable"), JSON.stringify(events.items.map((e) => e.reason)));

    // The Repository's slot is free: the next backup runs at once.
    await env.backupConfiguration("here", { repository: { name: "main" }, backupHistoryLimit: 5 }, "source");
    await env.backupSession("here-1", "here");
    await env.waitForPhase("backupsessions", "here-1", ["Running", "Succeeded"], 15_000);
    assert.ok(Date.now() - failedAt < 15_000);
    await env.waitForPhase("backupsessions", "here-1", ["Succeeded"], 90_000);
  });
});

describe("a Job image the nodes cannot pull (real kubelet and containerd)", function () {
  this.timeout(120_000);
  let env: BackupEnv;
  // A registry on the node's own loopback that nothing listens on: the pull fails at once, and no
  // name is looked up anywhere.
  const MISSING = "127.0.0.1:1/blobstash/missing:0";

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-pull-${id}`, `operator-pull-${id}`);
    // The admission policy would refuse a Job with another image than the chart's before any pull.
    await env.setUp([`--pod-start-limit=${LIMIT_S}s`, `--job-image=${MISSING}`], 1, {}, { admissionPolicy: { enabled: false } });
    await env.storageSecret("azure-secret", PASSWORD);
    await env.repository("main", "azure-secret", `/e2e/pull-${id}`);
    await env.pvc("source");
  });

  after(async function () {
    await env?.tearDown();
  });

  it("shows the kubelet's pull error within seconds, fails ImagePullFailed at the bound, and leaves nothing behind", async function () {
    await env.backupConfiguration("pull", { repository: { name: "main" } }, "source");
    await env.backupSession("pull-1", "pull");
    let shown: { reason: string; message: string; lastTransitionTime: string } | undefined;
    await waitFor("the session to show why its pod waits", async () => {
      shown = (await env.getSession("backupsessions", "pull-1"))?.status?.conditions?.find((c) => c.type === "PodStarted");
      return shown?.reason === "ImagePullFailed";
    }, { timeoutMs: 30_000, intervalMs: 100 });
    // The kubelet's own words: the image and why it could not be pulled.
    assert.match(shown!.message, new RegExp(`(ErrImagePull|ImagePullBackOff): .*${MISSING.replace(/[.]/g, "\\.")}`), shown!.message);
    assert.match(shown!.message, /connection refused/, shown!.message);

    const failed = await env.waitForPhase("backupsessions", "pull-1", ["Failed"], (LIMIT_S + 30) * 1000);
    const completed = failed.status?.conditions?.find((c) => c.type === "Completed");
    assert.equal(completed?.reason, "ImagePullFailed");
    assert.match(completed?.message ?? "", new RegExp(`did not start within ${LIMIT_S}s`), completed?.message);
    await waitFor("the Job and its pod to be gone", async () => {
      const pods = await env.core.listNamespacedPod({ namespace: env.ns, labelSelector: "blobstash.io/session=pull-1" });
      return !(await env.jobExists("pull-1-backup")) && pods.items.length === 0;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    const secrets = await env.core.listNamespacedSecret({ namespace: env.ns, labelSelector: "app.kubernetes.io/managed-by=blobstash" });
    assert.deepEqual(secrets.items.map((s) => s.metadata?.name), []);
  });
});
