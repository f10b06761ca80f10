import assert from "node:assert/strict";
import { DEFAULT_PROGRESS_INTERVAL_MS, DEFAULT_RESULT_FILE, parseWrapperArgs } from "./flags.ts";

const env = {};

describe("wrapper flags", () => {
  it("parses a backup command line as the Job builder writes it", () => {
    const parsed = parseWrapperArgs(
      [
        "backup",
        "--repo",
        "azure:backups:/demo/app",
        "--option",
        "azure.connections=8",
        "--source",
        "/blobstash/volume",
        "--path",
        "data",
        "--path",
        "conf/app.yaml",
        "--exclude",
        "*.tmp",
        "--exclude",
        "/blobstash/volume/data/cache",
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
        "--deadline",
        "2026-11-30T18:00:00Z",
        "--progress-interval",
        "5s",
      ],
      env,
    );
    assert.deepEqual(parsed, {
      ok: true,
      plan: {
        action: "backup",
        restic: "restic",
        repository: "azure:backups:/demo/app",
        options: ["azure.connections=8"],
        noCache: false,
        resultFile: "/dev/termination-log",
        progressIntervalMs: 5000,
        cacheDir: "/blobstash/scratch/cache",
        timeoutMs: 5_400_000,
        deadlineAtMs: Date.parse("2026-11-30T18:00:00Z"),
        source: "/blobstash/volume",
        paths: ["data", "conf/app.yaml"],
        excludes: ["*.tmp", "/blobstash/volume/data/cache"],
        host: "host-0",
        tags: ["demo/nightly"],
        retention: { keepTags: ["gold"], prune: true, dryRun: false, keepLast: 5, keepDaily: 7 },
      },
    });
  });

  it("defaults: whole source, host-0, no retention, termination log, env overrides", () => {
    const parsed = parseWrapperArgs(["backup", "--repo", "/tmp/repo", "--source", "/data"], { BLOBSTASH_RESTIC: "/opt/restic", BLOBSTASH_RESULT_FILE: "/tmp/result" });
    assert.ok(parsed.ok && parsed.plan.action === "backup");
    assert.deepEqual(parsed.plan.paths, ["."]);
    assert.equal(parsed.plan.host, "host-0");
    assert.equal(parsed.plan.retention, undefined);
    assert.equal(parsed.plan.restic, "/opt/restic");
    assert.equal(parsed.plan.resultFile, "/tmp/result");
    assert.equal(parsed.plan.progressIntervalMs, DEFAULT_PROGRESS_INTERVAL_MS);
    const plain = parseWrapperArgs(["backup", "--repo", "/tmp/repo", "--source", "/data"], {});
    assert.ok(plain.ok && plain.plan.resultFile === DEFAULT_RESULT_FILE);
  });

  it("parses a restore command line", () => {
    const parsed = parseWrapperArgs(
      ["restore", "--repo", "azure:b:/p", "--snapshot", "4bc21d6f", "--snapshot-host", "app", "--target", "/blobstash/volume", "--include", "/data", "--no-cache"],
      env,
    );
    assert.ok(parsed.ok && parsed.plan.action === "restore");
    assert.deepEqual(parsed.plan, {
      action: "restore",
      restic: "restic",
      repository: "azure:b:/p",
      options: [],
      noCache: true,
      resultFile: DEFAULT_RESULT_FILE,
      progressIntervalMs: DEFAULT_PROGRESS_INTERVAL_MS,
      snapshot: "4bc21d6f",
      snapshotHost: "app",
      target: "/blobstash/volume",
      includes: ["/data"],
      excludes: [],
    });
    const latest = parseWrapperArgs(["restore", "--repo", "r", "--target", "/t"], env);
    assert.ok(latest.ok && latest.plan.action === "restore" && latest.plan.snapshot === "latest");
    assert.ok(latest.ok && latest.plan.action === "restore" && latest.plan.overwrite === undefined && latest.plan.deleteExtra === undefined);
    const existing = parseWrapperArgs(["restore", "--repo", "r", "--target", "/t", "--overwrite", "if-newer", "--delete"], env);
    assert.ok(existing.ok && existing.plan.action === "restore" && existing.plan.overwrite === "if-newer" && existing.plan.deleteExtra === true);
    const scoped = parseWrapperArgs(["restore", "--repo", "r", "--target", "/t", "--snapshot-namespace", "team-a"], env);
    assert.ok(scoped.ok && scoped.plan.action === "restore" && scoped.plan.snapshotNamespace === "team-a");
    const notNamespace = parseWrapperArgs(["restore", "--repo", "r", "--target", "/t", "--snapshot-namespace", "Team/A"], env);
    assert.ok(!notNamespace.ok && /--snapshot-namespace "Team\/A" is not a namespace name/.test(notNamespace.error));
    const wrong = parseWrapperArgs(["restore", "--repo", "r", "--target", "/t", "--overwrite", "sometimes"], env);
    assert.ok(!wrong.ok && /--overwrite "sometimes" is not one of always, if-changed, if-newer, never/.test(wrong.error));
  });

  it("refuses what cannot work, and still says where the result goes", () => {
    const bad: Array<[string[], RegExp]> = [
      [["backup", "--source", "/d"], /--repo is required/],
      [["backup", "--repo", "r"], /--source is required/],
      [["backup", "--repo", "r", "--source", "d"], /must be an absolute path/],
      [["backup", "--repo", "r", "--source", "/d", "--path", "/etc"], /must be relative/],
      [["backup", "--repo", "r", "--source", "/d", "--path", "a/../../etc"], /must not contain/],
      [["backup", "--repo", "r", "--source", "/d", "--keep-last", "0"], /positive whole number/],
      [["backup", "--repo", "r", "--source", "/d", "--keep-last", "2x"], /positive whole number/],
      [["backup", "--repo", "r", "--source", "/d", "--prune"], /need at least one --keep-\* rule/],
      [["backup", "--repo", "r", "--source", "/d", "--tag", "a,b"], /without commas/],
      [["backup", "--repo", "r", "--source", "/d", "--timeout", "soon"], /not a duration/],
      [["backup", "--repo", "r", "--source", "/d", "--timeout", "1m", "--deadline", "tomorrow"], /not an RFC 3339 time/],
      [["backup", "--repo", "r", "--source", "/d", "--timeout", "1m", "--deadline", "2026-11-30 18:00"], /not an RFC 3339 time/],
      [["backup", "--repo", "r", "--source", "/d", "--deadline", "2026-11-30T18:00:00Z"], /--deadline needs --timeout/],
      [["backup", "--repo", "r", "--source", "/d", "--option", "novalue"], /KEY=VALUE/],
      [["backup", "--repo", "r", "--source", "/d", "--frobnicate"], /Unknown option/],
      [["restore", "--repo", "r", "--target", "/t", "--include", "a", "--exclude", "b"], /both --include and --exclude/],
      [["restore", "--repo", "r", "--target", "/t", "--snapshot", "last-tuesday"], /neither "latest" nor a snapshot id/],
      [["restore", "--repo", "r", "--target", "/t", "stray"], /positional/],
    ];
    for (const [argv, re] of bad) {
      const parsed = parseWrapperArgs([...argv, "--result-file", "/tmp/r.json"], env);
      assert.equal(parsed.ok, false, argv.join(" "));
      if (!parsed.ok) {
        assert.match(parsed.error, re, argv.join(" "));
        assert.equal(parsed.resultFile, "/tmp/r.json");
        assert.equal(parsed.action, argv[0]);
      }
    }
    const unknown = parseWrapperArgs(["copy"], env);
    assert.ok(!unknown.ok && unknown.action === undefined && /unknown action/.test(unknown.error));
  });
});
