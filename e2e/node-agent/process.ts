// One container as a host process. It runs in its own process group (detached) so that stopping the
// container stops everything it started, the way a container runtime kills the container's cgroup.
import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, open, readFile, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ProcessSpec } from "./process-spec.ts";

export interface Exit {
  exitCode: number;
  signal?: number;
  finishedAt: Date;
}

export interface ContainerProcess {
  pid: number;
  startedAt: Date;
  exited: Promise<Exit>;
  /** SIGTERM to the process group, SIGKILL after graceMs; resolves once the main process is gone. */
  stop(graceMs: number): Promise<Exit>;
}

export type StartResult = { ok: true; proc: ContainerProcess } | { ok: false; message: string };

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already empty.
  }
}

async function isExecutableFile(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Looks a command up the way execvp does: as a path when it has a slash, else along PATH. */
export async function resolveExecutable(file: string, pathVar: string | undefined, cwd: string): Promise<string | undefined> {
  if (file.includes("/")) {
    const p = path.resolve(cwd, file);
    return (await isExecutableFile(p)) ? p : undefined;
  }
  for (const dir of (pathVar ?? "").split(":")) {
    const p = path.resolve(cwd, dir || ".", file);
    if (await isExecutableFile(p)) return p;
  }
  return undefined;
}

/** What a container gets when neither the node nor the container sets PATH (Docker's default). */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// When the agent itself is SIGKILLed it cannot stop its containers. setpriv (util-linux) asks the
// kernel to SIGKILL the container's main process when the agent dies, then execs it (same PID).
let setpriv: Promise<string | undefined> | undefined;
function findSetpriv(): Promise<string | undefined> {
  setpriv ??= resolveExecutable("setpriv", process.env.PATH ?? "/usr/bin:/bin", "/");
  return setpriv;
}

export async function startProcess(spec: ProcessSpec, logFile: string): Promise<StartResult> {
  const executable = await resolveExecutable(spec.file, spec.env.PATH ?? DEFAULT_PATH, spec.cwd);
  if (!executable) return { ok: false, message: `exec: "${spec.file}": executable file not found in $PATH` };
  const wrapper = await findSetpriv();
  const [file, args] = wrapper
    ? [wrapper, ["--pdeathsig", "KILL", "--", executable, ...spec.args]]
    : [executable, spec.args];
  const log = await open(logFile, "a", 0o640);
  try {
    const child = spawn(file, args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ["ignore", log.fd, log.fd],
    });
    const spawned = await new Promise<{ ok: true } | { ok: false; err: NodeJS.ErrnoException }>((resolve) => {
      child.once("spawn", () => resolve({ ok: true }));
      child.once("error", (err) => resolve({ ok: false, err }));
    });
    if (!spawned.ok || child.pid === undefined) {
      const err = spawned.ok ? new Error("no pid") : spawned.err;
      const code = (err as NodeJS.ErrnoException).code;
      const message =
        code === "ENOENT"
          ? `exec: "${spec.file}": executable file not found in $PATH`
          : code === "EACCES"
            ? `exec: "${spec.file}": permission denied`
            : `exec: "${spec.file}": ${err.message}`;
      return { ok: false, message };
    }
    const pid = child.pid;
    const startedAt = new Date();
    const exited = new Promise<Exit>((resolve) => {
      child.once("exit", (code, signal) => {
        // The container ends with its main process; whatever it left behind in its group goes too.
        killGroup(pid, "SIGKILL");
        const signum = signal ? os.constants.signals[signal] : undefined;
        resolve({
          exitCode: code ?? 128 + (signum ?? 9),
          ...(signum !== undefined ? { signal: signum } : {}),
          finishedAt: new Date(),
        });
      });
    });
    const stop = async (graceMs: number): Promise<Exit> => {
      killGroup(pid, "SIGTERM");
      const timer = setTimeout(() => killGroup(pid, "SIGKILL"), Math.max(0, graceMs));
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    };
    return { ok: true, proc: { pid, startedAt, exited, stop } };
  } finally {
    await log.close();
  }
}

const MAX_MESSAGE_BYTES = 4096;
const FALLBACK_LOG_LINES = 80;
const FALLBACK_LOG_BYTES = 2048;

/**
 * The termination message as kubelet reports it: the file's content capped at 4096 bytes; with
 * FallbackToLogsOnError, the tail of the log (80 lines, 2048 bytes) when the file is empty and the
 * container failed.
 */
export async function readTerminationMessage(
  file: string,
  opts: { policy?: string; exitCode: number; logFile: string },
): Promise<string> {
  let msg = "";
  try {
    const buf = await readFile(file);
    msg = buf.subarray(0, MAX_MESSAGE_BYTES).toString("utf8");
  } catch {
    // No file: no message.
  }
  if (msg || opts.policy !== "FallbackToLogsOnError" || opts.exitCode === 0) return msg;
  try {
    const log = await readFile(opts.logFile);
    const tail = log.subarray(Math.max(0, log.length - 64 * 1024)).toString("utf8");
    const lines = tail.split("\n");
    if (lines.at(-1) === "") lines.pop();
    const last = Buffer.from(lines.slice(-FALLBACK_LOG_LINES).join("\n"));
    return last.subarray(Math.max(0, last.length - FALLBACK_LOG_BYTES)).toString("utf8");
  } catch {
    return "";
  }
}

/**
 * Fields 3 and 22 of /proc/<pid>/stat: the process state and start time. The start time tells a
 * recorded PID from a reused one; state Z is a zombie, already dead.
 */
export async function processInfo(pid: number): Promise<{ state: string; startTicks: string } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const [state, startTicks] = [fields[0], fields[19]];
    return state && startTicks ? { state, startTicks } : undefined;
  } catch {
    return undefined;
  }
}
