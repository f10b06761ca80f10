import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

/** What the supervisor remembers about a process it started, in <dir>/pids/<name>.json (PID alone in <name>.pid). */
export interface ProcessRecord {
  name: string;
  pid: number;
  /** Kernel start time (clock ticks since boot) from /proc/<pid>/stat; tells our process from a reused PID. */
  startTime: string;
  command: string[];
  logFile: string;
  startedAt: number;
}

export interface StartProcessOptions {
  /** The complete environment of the process (nothing is inherited implicitly). */
  env: Record<string, string | undefined>;
  cwd?: string;
  /**
   * Have the kernel SIGKILL the process when the process that started it dies (setpriv --pdeathsig), so a
   * test run that is killed hard leaves nothing behind. Off for `make up`, whose processes outlive the CLI.
   */
  dieWithParent?: boolean;
}

// Children started by this process: their exit is observed directly, which also reaps them.
const children = new Map<number, ChildProcess>();

export const pidDir = (dir: string) => path.join(dir, "pids");
export const logDir = (dir: string) => path.join(dir, "logs");
export const logFile = (dir: string, name: string) => path.join(logDir(dir), `${name}.log`);

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may contain spaces; fields after it are plain.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

function procStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** Alive and not a zombie (a zombie is dead; it only waits for a parent that may never reap it). */
function pidAlive(pid: number): boolean {
  const child = children.get(pid);
  // Our own child counts as running until Node has reaped it, so that afterwards even kill(pid, 0) fails.
  if (child) return child.exitCode === null && child.signalCode === null;
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== "Z" && state !== "X";
}

/** Whether the recorded process is still running (and is still ours, not a reused PID). */
export function isRunning(record: ProcessRecord): boolean {
  return pidAlive(record.pid) && procStartTime(record.pid) === record.startTime;
}

/**
 * Every live process in the process group led by the recorded process (it and whatever it forked without
 * setsid), including members that outlived the leader. Members must have started no earlier than the
 * leader, so a PID reused by an unrelated session leader is never mistaken for ours.
 */
function groupMembers(record: ProcessRecord): number[] {
  const members: number[] = [];
  const leaderStart = Number(record.startTime);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const fields = statFields(pid);
    if (!fields || fields[2] !== String(record.pid) || fields[0] === "Z" || fields[0] === "X") continue;
    if (pid === record.pid ? isRunning(record) : Number(fields[19]) >= leaderStart) members.push(pid);
  }
  return members;
}

let setprivPath: string | null | undefined;

/** util-linux's setpriv, if the machine has it; without it dieWithParent degrades to the 'exit' handler's SIGKILL. */
function findSetpriv(): string | undefined {
  setprivPath ??= ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"].find((f) => existsSync(f)) ?? null;
  return setprivPath ?? undefined;
}

/**
 * Starts `cmd args` detached (its own session and process group), stdout and stderr appended to
 * <dir>/logs/<name>.log, and records its PID so `stopProcess`/`stopAll` (and `down` from another
 * process) can stop it. Throws if a live process is already recorded under that name.
 */
export function startProcess(dir: string, name: string, cmd: string, args: string[], options: StartProcessOptions): ProcessRecord {
  mkdirSync(pidDir(dir), { recursive: true });
  mkdirSync(logDir(dir), { recursive: true });
  const existing = readRecord(dir, name);
  if (existing && isRunning(existing)) throw new Error(`${name} already runs as PID ${existing.pid}`);
  const log = logFile(dir, name);
  const fd = openSync(log, "a");
  const setpriv = options.dieWithParent ? findSetpriv() : undefined;
  const [file, argv] = setpriv ? [setpriv, ["--pdeathsig", "SIGKILL", "--", cmd, ...args]] : [cmd, args];
  const env = Object.fromEntries(Object.entries(options.env).filter((e): e is [string, string] => e[1] !== undefined));
  let child: ChildProcess;
  try {
    writeFileSync(fd, `--- ${new Date().toISOString()} starting ${name}: ${[cmd, ...args].join(" ")}\n`);
    child = spawn(file, argv, { cwd: options.cwd, env, detached: true, stdio: ["ignore", fd, fd] });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd}); see ${log}`);
  const pid = child.pid;
  children.set(pid, child);
  // A spawn failure after the PID exists (e.g. ENOENT) arrives as an event; it must not crash the caller.
  child.on("error", () => undefined);
  child.once("exit", () => setTimeout(() => children.delete(pid), 60_000).unref());
  child.unref();
  const record: ProcessRecord = {
    name, pid, startTime: procStartTime(pid) ?? "", command: [cmd, ...args], logFile: log, startedAt: Date.now(),
  };
  writeFileSync(path.join(pidDir(dir), `${name}.pid`), `${pid}\n`);
  writeFileSync(path.join(pidDir(dir), `${name}.json`), JSON.stringify(record, null, 2) + "\n");
  return record;
}

export function readRecord(dir: string, name: string): ProcessRecord | undefined {
  try {
    return JSON.parse(readFileSync(path.join(pidDir(dir), `${name}.json`), "utf8")) as ProcessRecord;
  } catch {
    return undefined;
  }
}

/** All recorded processes, oldest first. */
export function readRecords(dir: string): ProcessRecord[] {
  let files: string[];
  try {
    files = readdirSync(pidDir(dir));
  } catch {
    return [];
  }
  return files
    .filter((f) => f.endsWith(".json"))
    .map((f) => readRecord(dir, f.slice(0, -".json".length)))
    .filter((r): r is ProcessRecord => r !== undefined)
    .sort((a, b) => a.startedAt - b.startedAt);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/**
 * Stops one recorded process and everything in its process group: SIGTERM, then SIGKILL after `graceMs`,
 * and returns only once none of them runs. Removes the record.
 */
export async function stopProcess(dir: string, name: string, graceMs = 5000): Promise<void> {
  const record = readRecord(dir, name);
  if (!record) return;
  const members = () => groupMembers(record).filter(pidAlive);
  if (members().length > 0) {
    for (const pid of members()) signal(pid, "SIGTERM");
    if (!(await until(() => members().length === 0, graceMs))) {
      for (const pid of members()) signal(pid, "SIGKILL");
      if (!(await until(() => members().length === 0, 5000))) {
        throw new Error(`${name} (PID ${record.pid}) survived SIGKILL: ${members().join(", ")} still running`);
      }
    }
  }
  // The leader itself may be a child of this process that has exited but whose exit event is pending.
  await until(() => !isRunning(record), 2000);
  rmSync(path.join(pidDir(dir), `${name}.pid`), { force: true });
  rmSync(path.join(pidDir(dir), `${name}.json`), { force: true });
}

/** Stops every recorded process, newest first (clients before the servers they talk to). */
export async function stopAll(dir: string, graceMs = 5000): Promise<void> {
  for (const record of readRecords(dir).reverse()) await stopProcess(dir, record.name, graceMs);
}

/** SIGKILLs every recorded process at once, synchronously: for process 'exit' handlers, where nothing can be awaited. */
export function killAllNow(dir: string): void {
  for (const record of readRecords(dir)) {
    for (const pid of groupMembers(record)) signal(pid, "SIGKILL");
  }
}

/** The last lines of a process's log, for error messages when it fails to come up. */
export function logTail(dir: string, name: string, lines = 20): string {
  try {
    return readFileSync(logFile(dir, name), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** An `abortIf` for waitFor: stop waiting as soon as the process has exited, quoting its log. */
export function exitedWithLog(dir: string, record: ProcessRecord): () => string | undefined {
  return () => (isRunning(record) ? undefined : `${record.name} exited; last lines of ${record.logFile}:\n${logTail(dir, record.name)}`);
}
