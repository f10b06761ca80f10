import assert from "node:assert/strict";
import { fixtureLines } from "./fixtures.ts";
import { parseResticLine, type BackupStatus } from "./messages.ts";
import { describeBackupStatus, describeRestoreStatus, Throttle } from "./progress.ts";

describe("progress lines", () => {
  it("describes a backup status from restic's captured output", () => {
    const status = fixtureLines("backup-progress.jsonl")
      .map((l) => parseResticLine(l, "backup"))
      .find((m): m is BackupStatus => m.type === "backup-status" && m.secondsRemaining !== undefined && m.secondsElapsed > 0);
    assert.ok(status);
    const line = describeBackupStatus(status);
    assert.match(line.message, /^backup \d+\.\d%: [\d.]+ MiB of 572\.2 MiB, 0 of 1 files, ETA \d+s$/);
    assert.equal(line.meta.totalBytes, 600_000_000);
    assert.equal(line.meta.secondsRemaining, status.secondsRemaining);
  });

  it("mentions per-file errors and estimates a restore's ETA", () => {
    const b = describeBackupStatus({ type: "backup-status", secondsElapsed: 10, percentDone: 0.5, totalFiles: 10, filesDone: 5, totalBytes: 2048, bytesDone: 1024, errorCount: 2 });
    assert.equal(b.message, "backup 50.0%: 1 KiB of 2 KiB, 5 of 10 files, 2 errors");
    const r = describeRestoreStatus({
      type: "restore-status",
      secondsElapsed: 30,
      percentDone: 0.25,
      totalFiles: 100,
      filesRestored: 25,
      filesSkipped: 0,
      totalBytes: 4 * 1024 ** 3,
      bytesRestored: 1024 ** 3,
      bytesSkipped: 0,
    });
    assert.equal(r.message, "restore 25.0%: 1 GiB of 4 GiB, 25 of 100 files, ETA 1m30s");
    assert.equal(r.meta.secondsRemaining, 90);
  });

  it("throttles to one line per interval", () => {
    let now = 0;
    const t = new Throttle(5000, () => now);
    const passed: number[] = [];
    for (now = 0; now <= 12_000; now += 1000) if (t.ready()) passed.push(now);
    assert.deepEqual(passed, [0, 5000, 10_000]);
  });
});
