// What the agent records on disk about each pod it runs, so that a restarted agent knows which pods it
// was running (they are marked Failed, not re-run) and can kill processes a crash left behind.
import { readdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { processInfo } from "./process.ts";

export interface PodState {
  uid: string;
  namespace: string;
  name: string;
  /** Containers whose process was started at least once. */
  started: string[];
  /** Live processes by container name; the start ticks tell a recorded PID from a reused one. */
  processes: Record<string, { pid: number; startTicks?: string }>;
}

const FILE = "agent-state.json";

export function podDirName(namespace: string, name: string, uid: string): string {
  return `${namespace}_${name}_${uid}`;
}

export async function readPodState(podDir: string): Promise<PodState | undefined> {
  try {
    const s = JSON.parse(await readFile(path.join(podDir, FILE), "utf8")) as PodState;
    return typeof s.uid === "string" && s.processes && Array.isArray(s.started) ? s : undefined;
  } catch {
    return undefined;
  }
}

export async function writePodState(podDir: string, state: PodState): Promise<void> {
  const tmp = path.join(podDir, `${FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, path.join(podDir, FILE));
}

/** Every pod state recorded under `<workDir>/pods/`. */
export async function scanPodStates(podsDir: string): Promise<Array<{ dir: string; state: PodState }>> {
  let entries: string[];
  try {
    entries = await readdir(podsDir);
  } catch {
    return [];
  }
  const out: Array<{ dir: string; state: PodState }> = [];
  for (const e of entries) {
    const dir = path.join(podsDir, e);
    const state = await readPodState(dir);
    if (state) out.push({ dir, state });
  }
  return out;
}

/** SIGKILLs the process groups a previous agent left running; returns how many it killed. */
export async function killRecordedProcesses(state: PodState): Promise<number> {
  let killed = 0;
  for (const p of Object.values(state.processes)) {
    const info = await processInfo(p.pid);
    if (!info || info.state === "Z" || (p.startTicks !== undefined && info.startTicks !== p.startTicks)) continue;
    try {
      process.kill(-p.pid, "SIGKILL");
      killed++;
    } catch {
      // Already gone.
    }
  }
  return killed;
}
