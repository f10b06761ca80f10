// Scheduled backups end to end: a BackupConfiguration with a cron schedule (a seconds field, so the
// test takes seconds, not minutes; the operator's floor is lowered to 1 s for it) creates
// BackupSessions on time and never lets them pile up: a run that comes while the previous session
// has not finished is skipped with RunSkipped, as CronJob's concurrencyPolicy Forbid does. `paused`
// stops it and unpausing resumes it; backupHistoryLimit keeps that many finished sessions (their
// Jobs go with the rest); retention keeps exactly keepLast snapshots, as restic itself and the
// Repository's status say.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { V1Job } from "@kubernetes/client-node";
import type { BackupConfiguration, BackupSession } from "../operator/api/backup.ts";
import { cluster } from "./fixture.ts";
import { waitFor } from "./cluster/wait.ts";
import { BackupEnv, STASH } from "./backup-restore/harness.ts";
import { record, type Recorder } from "./backup-restore/recorder.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const PREFIX = `/e2e/schedule-${id}`;
const PERIOD_MS = 5_000;
const CONFIG = "every-5s";

const scheduledAt = (s: BackupSession) => Date.parse(s.metadata?.annotations?.["blobstash.io/scheduled-at"] ?? "");
const finished = (s: BackupSession) => s.status?.phase === "Succeeded" || s.status?.phase === "Failed";

describe("scheduled backups (real API server, job controller, garbage collector, Azurite, restic)", function () {
  this.timeout(120_000);
  let env: BackupEnv;
  let jobs: Recorder<V1Job>;
  let sessions: Recorder<BackupSession>;

  /** The last version of every session of the configuration ever seen, oldest scheduled time first. */
  const seen = () => [...sessions.byUid().values()].filter((s) => s.spec?.invoker?.name === CONFIG).sort((a, b) => scheduledAt(a) - scheduledAt(b));
  const current = async () => (await env.listSessions("backupsessions")).filter((s) => s.spec?.invoker?.name === CONFIG);
  const config = async () => (await env.custom.getNamespacedCustomObject({ ...STASH, plural: "backupconfigurations", namespace: env.ns, name: CONFIG })) as BackupConfiguration;

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-schedule-${id}`, `operator-schedule-${id}`);
    // The default floor (one run a minute) would make this test take minutes: floor 1 s.
    await env.setUp(["--min-schedule-interval=1s"]);
    jobs = await env.recordJobs();
    sessions = await record<BackupSession>(env.kc, `/apis/stash.appscode.com/v1beta1/namespaces/${env.ns}/backupsessions`);
    await env.storageSecret("azure-secret", PASSWORD);
    await env.repository("scheduled", "azure-secret", PREFIX);
    await env.pvc("source");
    await env.writeTree("source", Array.from({ length: 20 }, (_, i) => ({ path: `file-${i}.txt`, type: "file" as const, randomBytes: 2048 })));
  });

  after(async function () {
    jobs?.stop();
    sessions?.stop();
    await env?.tearDown();
  });

  it("creates sessions on time, keeps backupHistoryLimit of them and keepLast snapshots, stops while paused and resumes", async function () {
    await env.backupConfiguration(CONFIG, {
      repository: { name: "scheduled" },
      schedule: "*/5 * * * * *",
      backupHistoryLimit: 2,
      retentionPolicy: { name: "keep-last-2", keepLast: 2, prune: true },
    });
    // Three backups (the third one's retention removes the first snapshot), then a pause; a backup
    // takes longer than the period here, so runs that come while one is going are skipped.
    await waitFor("three scheduled sessions", () => seen().length >= 3, { timeoutMs: 60_000, intervalMs: 50 });
    await env.patchBackupConfiguration(CONFIG, { paused: true });
    await waitFor("the configuration to say it is paused", async () => (await config()).status?.conditions?.some((c) => c.type === "Scheduled" && c.reason === "Paused"), { timeoutMs: 10_000, intervalMs: 100 });
    const pausedAt = Date.now();
    const before = seen();

    // On time: each session was created within a couple of seconds of its scheduled time.
    for (const s of before) {
      const lag = Date.parse(String(s.metadata?.creationTimestamp)) - scheduledAt(s);
      assert.ok(scheduledAt(s) % PERIOD_MS === 0, `${s.metadata?.name} is for a scheduled time`);
      assert.ok(lag > -1000 && lag <= 2000, `${s.metadata?.name} created ${lag} ms after its time`);
    }
    // Never more than one unfinished session: each was created only after the one before had finished,
    // and the scheduled times in between were skipped (RunSkipped), not queued.
    const finishedAt = (name: string) => sessions.events.find((e) => e.object.metadata?.name === name && finished(e.object))?.at;
    let skipped = 0;
    for (let i = 1; i < before.length; i++) {
      const gap = scheduledAt(before[i]!) - scheduledAt(before[i - 1]!);
      assert.ok(gap >= PERIOD_MS && gap % PERIOD_MS === 0, `scheduled times ${gap} ms apart`);
      skipped += gap / PERIOD_MS - 1;
      const doneAt = finishedAt(before[i - 1]!.metadata!.name!);
      assert.ok(doneAt !== undefined && doneAt <= Date.parse(String(before[i]!.metadata?.creationTimestamp)) + 1000, `${before[i - 1]!.metadata?.name} finished before ${before[i]!.metadata?.name} was created`);
    }
    const skipEvents = (await env.core.listNamespacedEvent({ namespace: env.ns, fieldSelector: `involvedObject.name=${CONFIG}` })).items.filter((e) => e.reason === "RunSkipped");
    assert.ok(skipped > 0, "a backup takes longer than the period, so runs were skipped");
    assert.ok(skipEvents.length > 0 && /has not finished, and runs never overlap/.test(skipEvents[0]!.message ?? ""), "each skip is said, with its reason");
    for (const s of before) assert.equal(s.metadata?.ownerReferences?.[0]?.name, CONFIG);

    // What was queued or running when the pause came still runs; then exactly backupHistoryLimit finished sessions remain.
    let left: BackupSession[] = [];
    await waitFor("the sessions made before the pause to finish, and the oldest to be deleted", async () => {
      left = await current();
      return left.every(finished) && left.length <= 2;
    }, { timeoutMs: 60_000, intervalMs: 200 }).catch((err: Error) => {
      throw new Error(`${err.message}; sessions: ${left.map((s) => `${s.metadata?.name} ${s.status?.phase}`).join(", ")}`);
    });
    const remaining = left.sort((a, b) => scheduledAt(a) - scheduledAt(b));
    assert.equal(remaining.length, 2, `backupHistoryLimit: ${remaining.map((s) => s.metadata?.name).join(", ")}`);
    assert.ok(remaining.every((s) => s.status?.phase === "Succeeded"));
    const newestTwo = seen().filter(finished).slice(-2).map((s) => s.metadata?.name);
    assert.deepEqual(remaining.map((s) => s.metadata?.name), newestTwo, "the newest ones are kept");
    // The deleted sessions' Jobs are garbage-collected with them.
    const keptNames = new Set(remaining.map((s) => s.metadata?.name));
    assert.equal(seen().filter((s) => s.status?.phase === "Succeeded").length, 3);
    // Sessions ran in the order they were scheduled (retention keeps the newest snapshots).
    const jobOrder = [...jobs.byUid().values()]
      .sort((a, b) => Date.parse(String(a.metadata?.creationTimestamp)) - Date.parse(String(b.metadata?.creationTimestamp)))
      .map((j) => j.metadata?.labels?.["blobstash.io/session"]);
    assert.deepEqual(jobOrder, before.map((s) => s.metadata?.name), "one Job per session, in schedule order");
    await waitFor("only the kept sessions' Jobs to exist", async () => {
      const live = await env.batch.listNamespacedJob({ namespace: env.ns });
      return live.items.length === 2 && live.items.every((j) => keptNames.has(j.metadata?.labels?.["blobstash.io/session"])) ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });

    // Retention: restic itself lists exactly keepLast snapshots, the newest two sessions'.
    const snaps = await env.snapshots(PREFIX, PASSWORD);
    assert.equal(snaps.length, 2);
    assert.deepEqual(new Set(snaps.map((s) => s.id)), new Set(remaining.map((s) => s.status?.snapshot)));
    const repo = (await env.getRepository("scheduled")).status!;
    assert.equal(repo.snapshotCount, 2);
    assert.equal(repo.snapshotsRemovedOnLastCleanup, 1, "the last run's retention removed one snapshot");
    assert.ok(Date.parse(repo.firstBackupTime!) < Date.parse(repo.lastBackupTime!));

    // Paused: no session for two scheduled times (a negative needs a window of time; it spans two periods).
    await waitFor("two scheduled times to pass while paused", () => Date.now() >= pausedAt + 2 * PERIOD_MS + 1000, { timeoutMs: 2 * PERIOD_MS + 5000, intervalMs: 200 });
    assert.deepEqual(seen().map((s) => s.metadata?.name), before.map((s) => s.metadata?.name), "no session was created while paused");
    assert.equal((await config()).status?.nextScheduleTime, undefined);

    // Unpaused: the most recent missed time runs at once (not the whole backlog), then the schedule goes on.
    const resumedAt = Date.now();
    await env.patchBackupConfiguration(CONFIG, { paused: false });
    await waitFor("two sessions after the pause", () => seen().length >= before.length + 2, { timeoutMs: 30_000, intervalMs: 100 });
    const after = seen().slice(before.length);
    assert.ok(scheduledAt(after[0]!) > pausedAt && scheduledAt(after[0]!) <= resumedAt + PERIOD_MS, "first: the latest time missed while paused, or the next one");
    const gap = scheduledAt(after[1]!) - scheduledAt(after[0]!);
    assert.ok(gap >= PERIOD_MS && gap % PERIOD_MS === 0, "then on schedule (times that came while it ran skipped)");
    await env.patchBackupConfiguration(CONFIG, { paused: true });
    await env.waitForPhase("backupsessions", after[0]!.metadata!.name!, ["Succeeded"], 60_000);
  });
});
