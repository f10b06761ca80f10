import assert from "node:assert/strict";
import type { JobResult } from "../../api/result.ts";
import { judgeRestore } from "./verdict.ts";

const result = (totalFiles: number): JobResult => ({
  version: 1,
  action: "restore",
  outcome: "Succeeded",
  reason: "Succeeded",
  startTime: "2026-01-01T00:00:00Z",
  endTime: "2026-01-01T00:00:01Z",
  snapshot: { id: "0123456789abcdef".repeat(4) },
  restore: { totalFiles, filesRestored: totalFiles, filesSkipped: 0, totalBytes: 0, bytesRestored: 0, bytesSkipped: 0, filesDeleted: 0 },
});
const finished = (r: JobResult) => ({ state: "finished" as const, succeeded: true, result: r, reason: r.reason, message: "restore succeeded" });

describe("judgeRestore", () => {
  it("fails a restore whose include or paths matched nothing, naming them", () => {
    const j = judgeRestore({ include: ["/data/importnat"], paths: ["/"] }, finished(result(0)));
    assert.equal(j.succeeded, false);
    assert.equal(j.reason, "NothingRestored");
    assert.match(j.message, /nothing was restored: include \["\/data\/importnat"\] match nothing in snapshot 01234567/);
    assert.doesNotMatch(j.message, /paths/, "the volume's root is no filter");
  });

  it("says an unfiltered restore of an empty snapshot restored nothing, and succeeds", () => {
    const j = judgeRestore({ snapshots: ["latest"] }, finished(result(0)));
    assert.equal(j.succeeded, true);
    assert.equal(j.reason, "NothingRestored");
    assert.match(j.message, /holds no files/);
  });

  it("leaves restores that wrote something, failed ones and ones without figures alone", () => {
    const some = finished(result(3));
    assert.equal(judgeRestore({ include: ["/x"] }, some), some);
    const failed = { ...finished(result(0)), succeeded: false, reason: "SnapshotNotFound" };
    assert.equal(judgeRestore({ include: ["/x"] }, failed), failed);
    const bare = { ...finished(result(0)), result: { ...result(0), restore: undefined } };
    assert.equal(judgeRestore({ include: ["/x"] }, bare), bare);
  });
});
