import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { processInfo, readTerminationMessage, resolveExecutable, startProcess } from "./process.ts";

/** Alive and not a zombie (an orphan's zombie waits for PID 1, which may reap it late). */
async function alive(pid: number): Promise<boolean> {
  const info = await processInfo(pid);
  return info !== undefined && info.state !== "Z";
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

  it("resolves commands like execvp", async () => {
    assert.equal(await resolveExecutable("sh", "/nonexistent:/bin:/usr/bin", dir), "/bin/sh");
    assert.equal(await resolveExecutable("/bin/sh", "", dir), "/bin/sh");
    assert.equal(await resolveExecutable("no-such-binary-xyz", process.env.PATH, dir), undefined);
    // A directory or a non-executable file is not a command.
    assert.equal(await resolveExecutable("tmp", "/", dir), undefined);
    await writeFile(path.join(dir, "script"), "#!/bin/sh\n", { mode: 0o644 });
    assert.equal(await resolveExecutable("./script", "", dir), undefined);
  });

  it("kills a container's process when the agent dies without cleaning up", async () => {
    assert.ok(await resolveExecutable("setpriv", process.env.PATH, dir), "setpriv (util-linux) is needed on the host");
    const here = path.dirname(fileURLToPath(import.meta.url));
    const script = `
      const { startProcess } = await import(${JSON.stringify(path.join(here, "process.ts"))});
      const r = await startProcess({ file: "sleep", args: ["300"], env: { PATH: process.env.PATH }, cwd: ${JSON.stringify(dir)} }, ${JSON.stringify(path.join(dir, "c.log"))});
      console.log(r.proc.pid);
      setInterval(() => {}, 1000);`;
    const agent = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const [line] = (await once(agent.stdout, "data")) as [Buffer];
    const pid = Number(line.toString().trim());
    assert.ok(pid > 0 && (await alive(pid)));
    agent.kill("SIGKILL");
    for (let i = 0; i < 100 && (await alive(pid)); i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(await alive(pid), false, `pid ${pid} survived its agent`);
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
    assert.equal(await alive(r.proc.pid), false);
    for (let i = 0; i < 100 && (await alive(childPid)); i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(await alive(childPid), false);
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
