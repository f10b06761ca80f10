import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { isRunning, readRecord, readRecords, startProcess, stopAll, stopProcess } from "./supervisor.ts";
import { waitFor } from "./wait.ts";

const env = { PATH: process.env.PATH };

/** Running and not a zombie, by /proc (works for processes that are not our children too). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

describe("supervisor", function () {
  let dir: string;

  beforeEach(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), "blobstash-supervisor-"));
  });

  afterEach(async function () {
    await stopAll(dir, 200);
    await rm(dir, { recursive: true, force: true });
  });

  it("records the PID, sends output to logs/<name>.log, and refuses a second live process of that name", async function () {
    const r = startProcess(dir, "talker", "sh", ["-c", "echo hello from talker; exec sleep 60"], { env });
    assert.equal(readFileSync(path.join(dir, "pids", "talker.pid"), "utf8").trim(), String(r.pid));
    assert.deepEqual(readRecord(dir, "talker"), r);
    await waitFor("talker's output", async () => (await readFile(path.join(dir, "logs", "talker.log"), "utf8")).includes("hello from talker"), { timeoutMs: 5000 });
    assert.throws(() => startProcess(dir, "talker", "sleep", ["60"], { env }), /already runs/);
    await stopProcess(dir, "talker");
    assert.equal(isRunning(r), false);
    assert.throws(() => process.kill(r.pid, 0), { code: "ESRCH" }, "stopped and reaped");
    assert.deepEqual(readRecords(dir), []);
  });

  it("SIGKILLs what ignores SIGTERM after the grace, and stops the children in its process group too", async function () {
    const r = startProcess(dir, "stubborn", "sh", ["-c", "trap '' TERM; sleep 60 & echo child $!; wait"], { env });
    const childPid = Number(await waitFor("the child's PID", async () => /child (\d+)/.exec(await readFile(r.logFile, "utf8"))?.[1], { timeoutMs: 5000 }));
    assert.ok(running(childPid));
    const t0 = Date.now();
    await stopProcess(dir, "stubborn", 300);
    assert.ok(Date.now() - t0 >= 300, "it waited for the grace before SIGKILL");
    assert.equal(running(r.pid), false);
    assert.equal(running(childPid), false, "the background child died with its group");
  });

  it("with dieWithParent, a process dies when the process that started it is SIGKILLed", async function () {
    const supervisor = path.join(import.meta.dirname, "supervisor.ts");
    const parent = execa(process.execPath, ["--input-type=module", "-e", `
      import { startProcess } from ${JSON.stringify(supervisor)};
      const r = startProcess(${JSON.stringify(dir)}, "orphan", "sleep", ["60"], { env: { PATH: process.env.PATH }, dieWithParent: true });
      console.log(r.pid);
      setInterval(() => {}, 1000);
    `], { reject: false });
    const pid = Number(await waitFor("the started PID", () => readRecord(dir, "orphan")?.pid, { timeoutMs: 10_000 }));
    await waitFor("sleep to run", () => running(pid) && readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep"), { timeoutMs: 5000 });
    parent.kill("SIGKILL");
    await parent;
    await waitFor(`PID ${pid} to die with its parent`, () => !running(pid), { timeoutMs: 5000 });
  });
});
