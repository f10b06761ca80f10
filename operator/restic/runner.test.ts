import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setLogLevel } from "../observability/logger.ts";
import { fixture, resticBinary } from "./fixtures.ts";
import { failureText, resticArgv, runRestic, tidyResticError, type ResticContext, type ResticRun } from "./runner.ts";

const ctx = (over: Partial<ResticContext> = {}): ResticContext => ({ binary: "restic", repository: "azure:backups:/demo", options: [], ...over });

describe("restic runner", () => {
  describe("resticArgv", () => {
    it("puts global flags between the verb and its arguments", () => {
      assert.deepEqual(resticArgv(ctx({ options: ["azure.connections=8"], cacheDir: "/blobstash/scratch/cache" }), ["backup", "--host", "h", "--", "."]), [
        "backup",
        "-r",
        "azure:backups:/demo",
        "-o",
        "azure.connections=8",
        "--cache-dir",
        "/blobstash/scratch/cache",
        "--json",
        "--host",
        "h",
        "--",
        ".",
      ]);
    });

    it("adds --no-lock and --no-cache", () => {
      assert.deepEqual(resticArgv(ctx({ noCache: true, cacheDir: "/ignored" }), ["snapshots"], { noLock: true }), [
        "snapshots",
        "-r",
        "azure:backups:/demo",
        "--no-cache",
        "--no-lock",
        "--json",
      ]);
      assert.throws(() => resticArgv(ctx(), []));
    });
  });

  it("tidies the Azure SDK's error decoration", () => {
    const text = fixture("azure-read-only.stderr").split("\n").filter((l) => !l.startsWith("{")).join("\n");
    const tidy = tidyResticError(text);
    assert.match(tidy, /RESPONSE 403: 403 This request is not authorized to perform this operation using this permission\./);
    assert.match(tidy, /ERROR CODE: AuthorizationPermissionMismatch/);
    assert.doesNotMatch(tidy, /-{8}|<Error>|<\/Error>|RequestId|Response contained no body/);
  });

  it("explains a failure by the exit error, else the last stderr lines, plus the last retry", () => {
    const base: ResticRun = { exitCode: 1, stdout: "", textTail: ["a", "b"], notFound: false, aborted: false, durationMs: 1 };
    assert.equal(failureText(base), "a\nb");
    assert.equal(failureText({ ...base, exitError: { type: "exit-error", code: 1, message: "Fatal: x" } }), "Fatal: x");
    assert.equal(failureText({ ...base, textTail: [], lastRetry: "Stat failed: connection refused" }), "last retry: Stat failed: connection refused");
    assert.equal(failureText({ ...base, notFound: true }), "restic binary not found");
    assert.equal(failureText({ ...base, textTail: [] }), "restic exited with code 1");
  });

  describe("running", function () {
    this.timeout(30_000);
    let dir: string;
    before(async () => {
      if (!process.env.BLOBSTASH_TEST_LOGS) setLogLevel("error");
      dir = await mkdtemp(join(tmpdir(), "blobstash-runner-"));
    });
    after(async () => {
      setLogLevel(process.env.BLOBSTASH_LOG_LEVEL ?? "info");
      await rm(dir, { recursive: true, force: true });
    });

    it("reports a missing binary", async () => {
      const run = await runRestic(ctx({ binary: join(dir, "no-such-restic") }), ["version"]);
      assert.equal(run.notFound, true);
      assert.equal(run.exitCode, undefined);
    });

    it("runs the real restic and collects its JSON output", async () => {
      const env = { RESTIC_PASSWORD: "runner-test" };
      const c = ctx({ binary: resticBinary(), repository: join(dir, "repo"), env });
      const missing = await runRestic(c, ["snapshots"], { noLock: true, collectStdout: true });
      assert.equal(missing.exitCode, 10);
      assert.equal(missing.exitError?.code, 10);
      const messages: string[] = [];
      const init = await runRestic(c, ["init"], { onMessage: (m) => messages.push(m.type) });
      assert.equal(init.exitCode, 0);
      assert.deepEqual(messages, ["initialized"]);
      const list = await runRestic(c, ["snapshots"], { noLock: true, collectStdout: true });
      assert.equal(list.exitCode, 0);
      assert.equal(list.stdout.trim(), "[]");
    });

    it("stops restic on abort (SIGINT: restic cleans up and exits 130)", async () => {
      const controller = new AbortController();
      const c = ctx({
        binary: resticBinary(),
        env: { RESTIC_PASSWORD: "x", AZURE_ACCOUNT_NAME: "devstoreaccount1", AZURE_ACCOUNT_SAS: "sv=2025-11-05&sig=abc", HTTPS_PROXY: "http://127.0.0.1:1", NO_PROXY: "" },
        signal: controller.signal,
      });
      const started = Date.now();
      const pending = runRestic(c, ["snapshots"], { noLock: true, collectStdout: true });
      setTimeout(() => controller.abort("timeout"), 1000);
      const run = await pending;
      assert.equal(run.aborted, true);
      assert.equal(run.exitCode, 130);
      assert.equal(run.exitError?.code, 130);
      assert.ok(Date.now() - started < 10_000);
    });

    it("keeps restic's multi-line retry messages, redacted", async () => {
      const stub = join(dir, "retrying-restic");
      await writeFile(join(dir, "refused.txt"), fixture("network-refused.stderr"));
      await writeFile(stub, `#!/bin/sh\ncat "${join(dir, "refused.txt")}" >&2\nexit 130\n`);
      await chmod(stub, 0o755);
      const run = await runRestic(ctx({ binary: stub }), ["snapshots"], { noLock: true, collectStdout: true });
      assert.equal(run.gaveUp, undefined, "network trouble is left to restic's retries");
      assert.match(run.lastRetry ?? "", /returned error, retrying after .*connection refused/);
      assert.match(run.lastRetry ?? "", /sig=REDACTED/);
      assert.doesNotMatch(JSON.stringify(run), /c2VjcmV0/);
      assert.equal(run.exitError?.code, 130);
    });

    it("gives up on retries that cannot succeed (restic's captured ContainerNotFound retries)", async () => {
      const stub = join(dir, "fake-restic");
      await writeFile(join(dir, "retries.txt"), fixture("azure-container-not-found.stderr").split("signal interrupt")[0]!);
      // Replays restic's retry output, then waits like restic would for 15 minutes.
      // The trap is set before any output: the runner interrupts as soon as it reads the retries.
      await writeFile(stub, `#!/bin/sh\ntrap 'echo "{\\"message_type\\":\\"exit_error\\",\\"code\\":130,\\"message\\":\\"context canceled\\"}" >&2; exit 130' INT\ncat "${join(dir, "retries.txt")}" >&2\nwhile :; do sleep 0.1; done\n`);
      await chmod(stub, 0o755);
      const started = Date.now();
      const run = await runRestic(ctx({ binary: stub }), ["snapshots"], { noLock: true, collectStdout: true });
      assert.equal(run.gaveUp, "ContainerNotFound");
      assert.equal(run.exitCode, 130);
      assert.match(run.lastRetry ?? "", /ERROR CODE: ContainerNotFound/);
      assert.ok(Date.now() - started < 10_000);
    });

    it("keeps neither a flood of stdout nor endless lines: restic is stopped, the reason says why, memory stays bounded", async () => {
      const flood = join(dir, "flooding-restic");
      // 4 MiB of JSON on stdout, and a 3 MiB stderr line without a newline in between.
      await writeFile(
        flood,
        `#!/bin/sh
trap 'exit 130' INT
head -c 3145728 /dev/zero | tr '\\0' x >&2
echo >&2
echo '[' ; head -c 4194304 /dev/zero | tr '\\0' ' '\necho ']'\nwhile :; do sleep 0.1; done\n`,
      );
      await chmod(flood, 0o755);
      const started = Date.now();
      const run = await runRestic(ctx({ binary: flood }), ["snapshots"], { noLock: true, collectStdout: true, maxStdout: 1 << 20 });
      assert.ok(Date.now() - started < 10_000, "restic was stopped, not waited for");
      assert.match(run.overflow ?? "", /restic printed more than 1 MiB on stdout/);
      assert.equal(run.stdout, "", "nothing partial is handed to a parser");
      assert.match(failureText(run), /more than 1 MiB/);
      assert.ok(run.textTail.every((l) => l.length <= 4096), "the long stderr line was cut");
      assert.ok(run.textTail.some((l) => l.startsWith("xxxx")));
    });
  });
});
