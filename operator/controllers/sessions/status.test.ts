import assert from "node:assert/strict";
import { finishedBackupStatus, finishedRestoreStatus, phaseOf, repositoryFiguresFrom, sessionState } from "./status.ts";
import type { JobResult } from "../../api/result.ts";

const now = new Date("2026-01-01T00:02:00Z");
const created = new Date("2026-01-01T00:00:00Z");
const backup: JobResult = {
  version: 1,
  action: "backup",
  outcome: "Succeeded",
  reason: "Succeeded",
  startTime: "2026-01-01T00:00:10Z",
  endTime: "2026-01-01T00:01:10Z",
  snapshot: { id: "0123abcd", host: "host-0" },
  backup: {
    filesNew: 3, filesChanged: 1, filesUnmodified: 6, dirsNew: 1, dirsChanged: 0, dirsUnmodified: 0,
    dataAdded: 2048, dataAddedPacked: 1024, totalFilesProcessed: 10, totalBytesProcessed: 10 * 1024 * 1024, durationSeconds: 60,
  },
  retention: { kept: 3, removed: 2, dryRun: false, pruned: true },
  repository: { snapshotCount: 3, totalSize: 5 * 1024 * 1024 },
};

describe("session status", () => {
  it("reports a successful backup in Stash's shape", () => {
    const s = finishedBackupStatus(undefined, { state: "finished", succeeded: true, result: backup, reason: "Succeeded", message: "ok", finishedAt: new Date("2026-01-01T00:01:10Z") }, { kind: "PersistentVolumeClaim", name: "data" }, created, now);
    assert.equal(s.phase, "Succeeded");
    assert.equal(s.snapshot, "0123abcd");
    assert.equal(s.sessionDuration, "1m10s");
    const snap = s.targets?.[0]?.stats?.[0]?.snapshots?.[0];
    assert.equal(snap?.name, "0123abcd");
    assert.equal(snap?.uploaded, "1 KiB");
    assert.deepEqual(snap?.fileStats, { totalFiles: 10, newFiles: 3, modifiedFiles: 1, unmodifiedFiles: 6 });
    assert.equal(s.conditions?.[0]?.status, "True");
  });

  it("makes a backup with unreadable files PartiallyFailed, never a plain success, naming the files", () => {
    const partial: JobResult = {
      ...backup,
      outcome: "Partial",
      reason: "PartialBackup",
      step: "backup",
      exitCode: 3,
      message: "snapshot 0123abcd was made, but 2 file(s) could not be read: /secret, /db",
      errors: { count: 2, samples: ["/secret: open secret: permission denied", "/db: open db: permission denied"], paths: ["/secret", "/db"] },
    };
    const outcome = { state: "finished" as const, succeeded: true, partial: true, result: partial, reason: "PartialBackup", message: partial.message! };
    assert.equal(phaseOf(outcome), "PartiallyFailed");
    const s = finishedBackupStatus(undefined, outcome, { kind: "PersistentVolumeClaim", name: "data" }, created, now);
    assert.equal(s.phase, "PartiallyFailed");
    assert.deepEqual(s.unreadableFiles, { count: 2, paths: ["/secret", "/db"] });
    assert.equal(s.snapshot, "0123abcd", "the snapshot that was made is still reported");
    const c = s.conditions?.[0];
    assert.deepEqual([c?.type, c?.status, c?.reason], ["Completed", "False", "PartialBackup"]);
    assert.match(c?.message ?? "", /\/secret, \/db/);
    assert.equal(s.targets?.[0]?.phase, "PartiallyFailed");
    assert.equal(s.targets?.[0]?.stats?.[0]?.error, partial.message);
    // Retention that failed after a whole snapshot is partial too, without unreadable files.
    const forget = { ...outcome, result: { ...backup, outcome: "Partial" as const, reason: "RepositoryLocked" as const }, reason: "RepositoryLocked" };
    const f = finishedBackupStatus(undefined, forget, undefined, created, now);
    assert.equal(f.phase, "PartiallyFailed");
    assert.equal(f.unreadableFiles, undefined);
    assert.equal(phaseOf({ ...outcome, partial: false }), "Succeeded");
  });

  it("carries the failure reason into phase, condition and host error", () => {
    const s = finishedBackupStatus(undefined, { state: "finished", succeeded: false, reason: "WrongPassword", message: "the password does not open the repository" }, undefined, created, now);
    assert.equal(s.phase, "Failed");
    assert.equal(s.conditions?.[0]?.reason, "WrongPassword");
    assert.equal(s.targets?.[0]?.stats?.[0]?.error, "the password does not open the repository");
  });

  it("reports restores", () => {
    const r: JobResult = { ...backup, action: "restore", restore: { totalFiles: 10, filesRestored: 10, filesSkipped: 0, totalBytes: 99, bytesRestored: 99, bytesSkipped: 0, filesDeleted: 0 } };
    const s = finishedRestoreStatus(undefined, { state: "finished", succeeded: true, result: r, reason: "Succeeded", message: "ok" }, created, now);
    assert.deepEqual([s.phase, s.snapshot, s.filesRestored, s.bytesRestored], ["Succeeded", "0123abcd", 10, 99]);
  });

  it("keeps the transition time while the phase holds", () => {
    const first = sessionState(undefined, "Pending", "Queued", "waiting", created);
    const second = sessionState(first.conditions, "Pending", "Queued", "still waiting", now);
    assert.equal(second.conditions[0]?.lastTransitionTime, "2026-01-01T00:00:00Z");
  });
});

describe("repositoryFiguresFrom", () => {
  it("takes count, size and cleanup from a backup result and keeps the first backup time", () => {
    const out = repositoryFiguresFrom(backup, { firstBackupTime: "2025-12-01T00:00:00Z" });
    assert.deepEqual(out, {
      lastBackupTime: "2026-01-01T00:01:10Z",
      firstBackupTime: "2025-12-01T00:00:00Z",
      snapshotCount: 3,
      totalSize: "5 MiB",
      snapshotsRemovedOnLastCleanup: 2,
    });
  });

  it("never claims integrity: that is restic check's alone", () => {
    assert.equal("integrity" in repositoryFiguresFrom(backup, { integrity: false }), false, "a backup must not touch status.integrity");
  });

  it("changes nothing for restores or backups that made no snapshot", () => {
    assert.deepEqual(repositoryFiguresFrom({ ...backup, action: "restore" }, undefined), {});
    assert.deepEqual(repositoryFiguresFrom({ ...backup, snapshot: undefined, outcome: "Failed" }, undefined), {});
  });
});
