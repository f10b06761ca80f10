import assert from "node:assert/strict";
import { parseJobResult, serializeJobResult, TERMINATION_MESSAGE_LIMIT, truncateBytes, type JobResult } from "./result.ts";

const ID = "803c5f3617a148d9a3b7735977b4f06850cf58c04526eb791247ed12b92cd2d6";

function fullResult(): JobResult {
  return {
    version: 1,
    action: "backup",
    outcome: "Partial",
    reason: "PartialBackup",
    message: "at least one source file could not be read",
    step: "backup",
    exitCode: 3,
    startTime: "2026-11-23T01:24:41Z",
    endTime: "2026-11-23T01:24:43.397Z",
    snapshot: { id: ID, time: "2026-11-23T01:24:41.758346382Z", host: "host-0" },
    initialized: true,
    backup: {
      filesNew: 4,
      filesChanged: 0,
      filesUnmodified: 0,
      dirsNew: 3,
      dirsChanged: 0,
      dirsUnmodified: 0,
      dataAdded: 3002751,
      dataAddedPacked: 3001901,
      totalFilesProcessed: 4,
      totalBytesProcessed: 3000011,
      durationSeconds: 0.8,
    },
    retention: { kept: 2, removed: 3, dryRun: false, pruned: true, removedIds: ["07f08678", "0724036f", "4335939e"] },
    repository: { snapshotCount: 2, totalSize: 426033730, uncompressedSize: 426032295 },
    errors: { count: 1, samples: ["/a/unreadable.txt: open a/unreadable.txt: permission denied"] },
  };
}

describe("job result", () => {
  it("round-trips a full result", () => {
    const r = fullResult();
    const parsed = parseJobResult(serializeJobResult(r));
    assert.deepEqual(parsed, { ok: true, result: r });
  });

  it("never throws on garbage and says why", () => {
    const cases: unknown[] = [
      undefined,
      null,
      "",
      "   ",
      "panic: runtime error\n goroutine 1",
      "[1,2,3]",
      "null",
      '"text"',
      "{",
      JSON.stringify({ version: 2, action: "backup" }),
      JSON.stringify({ version: 1, action: "copy", outcome: "Succeeded", reason: "Succeeded", startTime: "2026-01-01T00:00:00Z", endTime: "2026-01-01T00:00:00Z" }),
      JSON.stringify({ version: 1, action: "backup", outcome: "Great", reason: "Succeeded", startTime: "2026-01-01T00:00:00Z", endTime: "2026-01-01T00:00:00Z" }),
      JSON.stringify({ version: 1, action: "backup", outcome: "Failed", reason: "Because", startTime: "2026-01-01T00:00:00Z", endTime: "2026-01-01T00:00:00Z" }),
      JSON.stringify({ version: 1, action: "backup", outcome: "Failed", reason: "ResticFailed", startTime: "yesterday", endTime: "2026-01-01T00:00:00Z" }),
      42,
      { version: 1 },
    ];
    for (const c of cases) {
      const parsed = parseJobResult(c);
      assert.equal(parsed.ok, false, `accepted ${String(c)}`);
      if (!parsed.ok) assert.ok(parsed.error.length > 0 && parsed.error.length < 300);
    }
  });

  it("bounds what a hostile pod can put into a result: size, message, samples, ids, host, numbers", () => {
    const base = { version: 1, action: "backup", outcome: "Failed", reason: "ResticFailed", startTime: "2026-01-01T00:00:00Z", endTime: "2026-01-01T00:00:01Z" };
    const huge = parseJobResult(JSON.stringify({ ...base, message: "x".repeat(1 << 20) }));
    assert.ok(!huge.ok && /^result is 10487\d\d characters; a Job.s result is at most 4096 bytes$/.test(huge.error), JSON.stringify(huge));
    const deep = parseJobResult("[".repeat(8000) + "]".repeat(8000));
    assert.equal(deep.ok, false);

    const parsed = parseJobResult(
      JSON.stringify({
        ...base,
        message: "m".repeat(6000),
        snapshot: { id: ID, host: "h".repeat(300), parent: "../../etc" },
        errors: { count: 1e300, samples: ["a"] },
        retention: { kept: 1, removed: 2, dryRun: false, pruned: true, removedIds: ["07f08678", "<script>"] },
        repository: { snapshotCount: 2 ** 60, totalSize: 5 },
        backup: { ...fullResult().backup, filesNew: Number.MAX_SAFE_INTEGER + 2 },
        __proto__: { polluted: true },
      }).replace('"__proto__":{"polluted":true}', '"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}'),
    );
    assert.ok(parsed.ok);
    const r = parsed.result;
    assert.ok(r.message!.length <= TERMINATION_MESSAGE_LIMIT && r.message!.endsWith("…[truncated]"));
    assert.deepEqual(r.snapshot, { id: ID }, "an overlong host and a parent that is no id are dropped");
    assert.equal(r.errors, undefined, "a count beyond any real one drops the block");
    assert.equal(r.retention?.removedIds, undefined, "ids that are not ids are not carried");
    assert.equal(r.repository, undefined);
    assert.equal(r.backup, undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);

    const samples = parseJobResult(JSON.stringify({ ...base, errors: { count: 200, samples: ["s".repeat(3000), ...Array.from({ length: 100 }, () => "s".repeat(80))] } }));
    assert.ok(samples.ok);
    assert.equal(samples.result.errors?.samples.length, 50);
    assert.ok(samples.result.errors!.samples.every((x) => x.length <= 1024));
  });

  it("drops optional parts that do not validate and keeps the outcome", () => {
    const text = JSON.stringify({
      version: 1,
      action: "restore",
      outcome: "Failed",
      reason: "SnapshotNotFound",
      startTime: "2026-01-01T00:00:00Z",
      endTime: "2026-01-01T00:00:01Z",
      step: "nowhere",
      exitCode: -1,
      snapshot: { id: "not-hex" },
      restore: { totalFiles: 1 },
      repository: { snapshotCount: "many" },
      retention: { kept: 1 },
      errors: { count: 2, samples: ["a", 3] },
      extra: { ignored: true },
    });
    const parsed = parseJobResult(text);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.result, {
      version: 1,
      action: "restore",
      outcome: "Failed",
      reason: "SnapshotNotFound",
      startTime: "2026-01-01T00:00:00Z",
      endTime: "2026-01-01T00:00:01Z",
      errors: { count: 2, samples: ["a"] },
    });
  });

  describe("size cap", () => {
    it("leaves a small result untouched", () => {
      const r = fullResult();
      assert.equal(serializeJobResult(r), JSON.stringify(r));
    });

    it("keeps the unreadable paths longer than restic's messages about them", () => {
      const r = fullResult();
      r.message = "snapshot 01234567 was made, but 400 file(s) could not be read";
      r.errors = {
        count: 400,
        samples: Array.from({ length: 10 }, (_, i) => `/db/${"x".repeat(150)}/${i}: open: permission denied`),
        paths: Array.from({ length: 10 }, (_, i) => `/db/${"x".repeat(150)}/${i}`),
      };
      const out = serializeJobResult(r, 2600);
      assert.ok(Buffer.byteLength(out, "utf8") <= 2600);
      const parsed = parseJobResult(out);
      assert.ok(parsed.ok);
      assert.equal(parsed.result.errors?.paths?.length, 10, out);
      assert.ok(parsed.result.errors!.samples.length < 10);
      assert.equal(parsed.result.message, r.message);
    });

    it("drops removed ids, then samples, then cuts the message, and stays within 4096 bytes", () => {
      const r = fullResult();
      r.retention!.removedIds = Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(8, "0"));
      r.errors = { count: 5000, samples: Array.from({ length: 50 }, (_, i) => `/data/dir/${"x".repeat(100)}/${i}: permission denied`) };
      r.message = "Fatal: ".concat("ü".repeat(5000));
      const out = serializeJobResult(r);
      assert.ok(Buffer.byteLength(out, "utf8") <= TERMINATION_MESSAGE_LIMIT, `${Buffer.byteLength(out)} bytes`);
      const parsed = parseJobResult(out);
      assert.ok(parsed.ok);
      assert.equal(parsed.result.retention?.removedIds, undefined);
      assert.equal(parsed.result.retention?.removed, 3);
      assert.deepEqual(parsed.result.errors, { count: 5000, samples: [] });
      assert.ok(parsed.result.message?.startsWith("Fatal: üü"));
      assert.ok(parsed.result.message?.endsWith("[truncated]"));
      assert.equal(parsed.result.snapshot?.id, ID);
      assert.deepEqual(parsed.result.backup, r.backup);
      assert.deepEqual(parsed.result.repository, r.repository);
    });

    it("keeps as many error samples as fit", () => {
      const r = fullResult();
      r.errors = { count: 100, samples: Array.from({ length: 100 }, (_, i) => `/f${i}: ${"e".repeat(60)}`) };
      const out = serializeJobResult(r);
      assert.ok(Buffer.byteLength(out) <= TERMINATION_MESSAGE_LIMIT);
      const parsed = parseJobResult(out);
      assert.ok(parsed.ok);
      assert.ok(parsed.result.errors!.samples.length > 10 && parsed.result.errors!.samples.length < 100);
      assert.equal(parsed.result.message, r.message);
    });

    it("survives messages that JSON escaping makes six times longer", () => {
      const r = fullResult();
      r.message = "\u0001".repeat(4000);
      const out = serializeJobResult(r);
      assert.ok(Buffer.byteLength(out) <= TERMINATION_MESSAGE_LIMIT);
      assert.ok(parseJobResult(out).ok);
    });

    it("falls back to the identity of the result under a tiny limit", () => {
      const out = serializeJobResult(fullResult(), 300);
      assert.ok(Buffer.byteLength(out) <= 300, out);
      const parsed = parseJobResult(out);
      assert.ok(parsed.ok);
      assert.equal(parsed.result.reason, "PartialBackup");
      assert.equal(parsed.result.step, "backup");
      assert.equal(parsed.result.snapshot?.id, ID);
    });
  });

  it("truncates on character boundaries", () => {
    const cut = truncateBytes("€".repeat(100), 40);
    assert.ok(Buffer.byteLength(cut) <= 40);
    assert.ok(cut.startsWith("€€€"));
    assert.ok(!cut.includes("\uFFFD"));
  });
});
