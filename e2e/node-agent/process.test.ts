import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { processInfo, readTerminationMessage, startProcess } from "./process.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("node-agent processes", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "na-proc-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const spec = (file: string, args: string[]) => ({ file, args, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, cwd: dir });

  it("captures output and the exit code", async () => {
    const log = path.join(dir, "c.log");
    const r = await startProcess(spec("sh", ["-c", "echo out; echo err >&2; exit 3"]), log);
    assert.ok(r.ok);
    const exit = await r.proc.exited;
    assert.equal(exit.exitCode, 3);
    assert.equal(await readFile(log, "utf8"), "out\nerr\n");
  });

  it("reports a missing executable like a container runtime", async () => {
    const r = await startProcess(spec("no-such-binary-xyz", []), path.join(dir, "c.log"));
    assert.deepEqual(r, { ok: false, message: 'exec: "no-such-binary-xyz": executable file not found in $PATH' });
  });

  it("stops the whole process group, escalating to SIGKILL", async () => {
    const pidFile = path.join(dir, "child.pid");
    // The shell ignores SIGTERM and has a background child: both must be gone after stop().
    const r = await startProcess(
      spec("sh", ["-c", `trap '' TERM; sleep 300 & echo $! > ${pidFile}; while :; do sleep 1; done`]),
      path.join(dir, "c.log"),
    );
    assert.ok(r.ok);
    let childPid = 0;
    for (let i = 0; i < 200 && !childPid; i++) {
      childPid = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
      if (!childPid) await new Promise((res) => setTimeout(res, 25));
    }
    assert.ok(childPid > 0);
    const exit = await r.proc.stop(200);
    assert.equal(exit.exitCode, 137);
    assert.equal(exit.signal, 9);
    assert.equal(alive(r.proc.pid), false);
    for (let i = 0; i < 100 && alive(childPid); i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(alive(childPid), false);
  });

  it("reads the termination message, capped, or falls back to the log on error", async () => {
    const msgFile = path.join(dir, "msg");
    const logFile = path.join(dir, "log");
    await writeFile(msgFile, "x".repeat(5000));
    assert.equal((await readTerminationMessage(msgFile, { exitCode: 0, logFile })).length, 4096);
    await writeFile(msgFile, "");
    await writeFile(logFile, "a\nb\nfatal: boom\n");
    assert.equal(await readTerminationMessage(msgFile, { exitCode: 1, logFile }), "");
    assert.equal(
      await readTerminationMessage(msgFile, { policy: "FallbackToLogsOnError", exitCode: 1, logFile }),
      "a\nb\nfatal: boom",
    );
    assert.equal(await readTerminationMessage(msgFile, { policy: "FallbackToLogsOnError", exitCode: 0, logFile }), "");
  });

  it("reads a process state and start time from /proc", async () => {
    const info = await processInfo(process.pid);
    assert.match(info?.startTicks ?? "", /^\d+$/);
    assert.match(info?.state ?? "", /^[RSD]$/);
    assert.equal(await processInfo(2 ** 30), undefined);
  });
});
