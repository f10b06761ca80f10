import assert from "node:assert/strict";
import { fixture, fixtureLines } from "./fixtures.ts";
import { parseResticLine, type BackupStatus } from "./messages.ts";

describe("restic --json messages (restic 0.19 fixtures)", () => {
  it("parses a backup's status and summary", () => {
    const msgs = fixtureLines("backup-first.jsonl").map((l) => parseResticLine(l, "backup"));
    assert.deepEqual(msgs[0], {
      type: "backup-status",
      secondsElapsed: 0,
      percentDone: 1,
      totalFiles: 4,
      filesDone: 3,
      totalBytes: 3000011,
      bytesDone: 3000011,
      errorCount: 0,
    });
    const summary = msgs.at(-1);
    assert.equal(summary?.type, "backup-summary");
    if (summary?.type !== "backup-summary") return;
    assert.equal(summary.snapshotId, "b448294a78ca019bb3f5bc13b4c871ce1c6db37f23e41b4ca5db0a99e4e74d23");
    assert.equal(summary.figures.filesNew, 4);
    assert.equal(summary.figures.totalBytesProcessed, 3000011);
    assert.equal(summary.figures.dataAddedPacked, 3001727);
    assert.equal(summary.backupStart, "2026-11-23T01:41:03.62094131Z");
  });

  it("reads elapsed and remaining seconds while a long backup runs", () => {
    const statuses = fixtureLines("backup-progress.jsonl")
      .map((l) => parseResticLine(l))
      .filter((m): m is BackupStatus => m.type === "backup-status");
    assert.ok(statuses.length >= 3);
    assert.ok(statuses.some((s) => s.secondsRemaining !== undefined && s.secondsRemaining > 0));
    assert.ok(statuses.some((s) => s.secondsRemaining === undefined), "restic drops the estimate near the end");
    const pct = statuses.map((s) => s.percentDone);
    assert.deepEqual([...pct].sort((a, b) => a - b), pct, "percent only grows");
  });

  it("parses per-file errors and the exit error of a partial backup", () => {
    const msgs = fixtureLines("backup-partial.stderr").map((l) => parseResticLine(l, "backup"));
    const err = msgs.find((m) => m.type === "error");
    assert.ok(err?.type === "error");
    assert.match(err.message, /unreadable\.txt: open a\/unreadable\.txt: permission denied$/);
    assert.equal(err.during, "archival");
    assert.match(err.item ?? "", /\/src\/a\/unreadable\.txt$/);
    assert.deepEqual(msgs.at(-1), { type: "exit-error", code: 3, message: "Warning: at least one source file could not be read" });
    const summary = fixtureLines("backup-partial.jsonl").map((l) => parseResticLine(l, "backup")).at(-1);
    assert.ok(summary?.type === "backup-summary" && summary.snapshotId, "a partial backup still makes a snapshot");
  });

  it("keeps plain-text warnings as text", () => {
    const msgs = fixtureLines("backup-missing-path.stderr").map((l) => parseResticLine(l));
    assert.deepEqual(msgs[0], { type: "text", text: "missing does not exist, skipping" });
    assert.equal(msgs[1]?.type, "exit-error");
  });

  it("parses restore status and summary, including the all-zero summary", () => {
    const summary = parseResticLine(fixtureLines("restore.jsonl").at(-1)!, "restore");
    assert.deepEqual(summary, {
      type: "restore-summary",
      figures: { totalFiles: 8, filesRestored: 8, filesSkipped: 0, totalBytes: 3000021, bytesRestored: 3000021, bytesSkipped: 0, filesDeleted: 0 },
    });
    const empty = parseResticLine(fixture("restore-nothing.jsonl").trim(), "restore");
    assert.equal(empty.type, "restore-summary");
    // Without knowing the command, the restore shape is recognised by its fields.
    assert.equal(parseResticLine(fixtureLines("restore.jsonl").at(-1)!).type, "restore-summary");
  });

  it("parses init's message and exit errors", () => {
    assert.deepEqual(parseResticLine(fixture("init.json")), {
      type: "initialized",
      id: "08cd46707dc3dfbe281d39c6f74bc585ffc6aa48e15bba57051a24ed088a11e9",
      repository: "./repo",
    });
    const wrong = parseResticLine(fixture("wrong-password.stderr"));
    assert.deepEqual(wrong, { type: "exit-error", code: 12, message: "Fatal: wrong password or no key found" });
  });

  it("never throws on garbage", () => {
    for (const line of ["", "{", "{]", "[1]", "null", '{"message_type":42}', '{"message_type":"status","percent_done":"x"}', "\u0000\u0001"]) {
      const m = parseResticLine(line);
      assert.ok(m.type === "text" || m.type === "backup-status", line);
    }
    const odd = parseResticLine('{"message_type":"status","percent_done":"x"}');
    assert.ok(odd.type === "backup-status" && odd.percentDone === 0);
  });

  it("cuts hostile fields and shrugs at hostile shapes", () => {
    const long = parseResticLine(JSON.stringify({ message_type: "error", error: { message: "e".repeat(100_000) }, during: "archival", item: "/x".repeat(50_000) }));
    assert.ok(long.type === "error");
    assert.ok(long.message.length <= 8192 && long.message.endsWith("…[truncated]"));
    assert.ok((long.item ?? "").length <= 8192);
    for (const line of [
      JSON.stringify({ message_type: "summary", files_new: "4", snapshot_id: 5, total_duration: -1, data_added: 1e400 }),
      JSON.stringify({ message_type: "status", percent_done: Infinity, total_files: [1] }),
      JSON.stringify({ message_type: "exit_error", code: "12", message: { text: "x" } }),
      `{"message_type":"error","error":${"[".repeat(5000)}${"]".repeat(5000)}}`,
      JSON.stringify({ message_type: "summary", __proto__: { files_new: 7 } }),
    ]) {
      const m = parseResticLine(line, "backup");
      assert.ok(["backup-summary", "backup-status", "exit-error", "error", "text"].includes(m.type), line.slice(0, 80));
    }
    const summary = parseResticLine(JSON.stringify({ message_type: "summary", files_new: "4", total_duration: -1 }), "backup");
    assert.ok(summary.type === "backup-summary");
    assert.equal(summary.figures.filesNew, 0, "a count that is not a number counts nothing");
    assert.equal(summary.figures.durationSeconds, 0);
    assert.equal(summary.snapshotId, undefined);
  });
});
