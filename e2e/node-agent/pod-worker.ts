// Runs one Pod bound to this node, from Pending to its end, the way kubelet's pod worker does:
// volumes, init containers one after the other, then the containers side by side, restarts by
// restartPolicy, activeDeadlineSeconds, graceful deletion, and the Pod status after every change.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { V1Container, V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import { referencedObjects, resolveContainerEnv, type EnvObjects, type NodeFacts, type ObjectData } from "./env.ts";
import type { EventSink } from "./events.ts";
import { describeError, statusCode, type Kube } from "./kube.ts";
import { containerMappings } from "./mounts.ts";
import { makePathRewriter } from "./paths.ts";
import { processInfo, readTerminationMessage, startProcess, type ContainerProcess } from "./process.ts";
import { buildProcessSpec } from "./process-spec.ts";
import { readPodState, writePodState, killRecordedProcesses, podDirName, type PodState } from "./state.ts";
import {
  buildPodStatus,
  computePhase,
  isTerminated,
  rfc3339,
  type ContainerModel,
  type ContainerState,
  type PodModel,
} from "./status.ts";
import { MountError, setUpVolumes, tearDownVolumes } from "./volumes.ts";

export interface WorkerContext {
  kube: Kube;
  nodeName: string;
  ip: string;
  facts: NodeFacts;
  pvcRoot: string;
  /** `<workDir>/pods`: one directory per pod, `<ns>_<name>_<uid>`. */
  podsDir: string;
  nodeEnv: Readonly<Record<string, string>>;
  /** Upper bound on any termination grace period, so tests never wait 30 s for a SIGKILL. */
  maxGraceMs: number;
  log(msg: string): void;
  event: EventSink;
}

/**
 * Why the agent is stopping the pod's containers: deleted (graceful deletion), deadline
 * (activeDeadlineSeconds), gone (the object vanished), shutdown (the agent stops), external (someone
 * else already put the pod in a terminal phase).
 */
type StopKind = "deleted" | "deadline" | "gone" | "shutdown" | "external";

const DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline";
const RESTARTED_MESSAGE = "the blobstash node agent restarted while this pod was running; its processes were killed";
const MAX_BACKOFF_MS = 10_000;
const FIRST_RETRY_MS = 500;

function isTerminalPhase(phase: string | undefined): boolean {
  return phase === "Succeeded" || phase === "Failed";
}

function resourceVersionOf(pod: V1Pod): number {
  const n = Number(pod.metadata?.resourceVersion);
  return Number.isFinite(n) ? n : 0;
}

function toText(data: Readonly<Record<string, Buffer>> | null): ObjectData {
  if (!data) return null;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString("utf8")]));
}

function waiting(reason: string, message?: string): ContainerState {
  return { waiting: message ? { reason, message } : { reason } };
}

function newContainerModel(c: V1Container, reason: string): ContainerModel {
  return { name: c.name, image: c.image ?? "", state: waiting(reason), restartCount: 0 };
}

export class PodWorker {
  readonly uid: string;
  readonly done: Promise<void>;
  private pod: V1Pod;
  private readonly ctx: WorkerContext;
  private readonly namespace: string;
  private readonly name: string;
  private readonly key: string;
  private readonly dir: string;
  private model: PodModel;
  private readonly procs = new Map<string, ContainerProcess>();
  private state: PodState;
  private stopKind: StopKind | undefined;
  private stopGraceMs = 0;
  private readonly stopController = new AbortController();
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The agent has decided the pod's terminal phase (or found it terminal). */
  private terminalDecided = false;
  /** No container process runs or will run again. */
  private containersDone = false;
  private deleteIssued = false;
  private dirty = false;
  private writing: Promise<void> | undefined;
  private lastWritten: string | undefined;

  constructor(ctx: WorkerContext, pod: V1Pod) {
    this.ctx = ctx;
    this.pod = pod;
    this.uid = pod.metadata?.uid ?? "";
    this.namespace = pod.metadata?.namespace ?? "";
    this.name = pod.metadata?.name ?? "";
    this.key = `${this.namespace}/${this.name}`;
    this.dir = path.join(ctx.podsDir, podDirName(this.namespace, this.name, this.uid));
    this.state = { uid: this.uid, namespace: this.namespace, name: this.name, started: [], processes: {} };
    this.model = {
      initContainers: (pod.spec?.initContainers ?? []).map((c) => newContainerModel(c, "PodInitializing")),
      containers: (pod.spec?.containers ?? []).map((c) => newContainerModel(c, "ContainerCreating")),
      startTime: rfc3339(pod.status?.startTime ? new Date(pod.status.startTime) : new Date()),
      sandboxReady: false,
    };
    this.done = this.run();
  }

  private get stopping(): boolean {
    return this.stopKind !== undefined;
  }

  /** A newer version of the Pod from the watch. */
  update(pod: V1Pod): void {
    if (pod.metadata?.uid !== this.uid) return;
    if (resourceVersionOf(pod) >= resourceVersionOf(this.pod)) this.pod = pod;
    if (this.pod.metadata?.deletionTimestamp) this.onDeletion();
    if (isTerminalPhase(this.pod.status?.phase) && !this.terminalDecided && !this.containersDone) {
      this.ctx.log(`${this.key}: phase set to ${this.pod.status?.phase} by someone else; stopping its containers`);
      this.requestStop("external", this.graceMs());
    }
    this.armDeadline();
  }

  /** The Pod object no longer exists: kill at once, write nothing. */
  gone(): void {
    this.requestStop("gone", 0);
  }

  /** The agent is stopping: kill the containers (briefly graceful) and leave the status as it is. */
  async shutdown(graceMs: number): Promise<void> {
    this.requestStop("shutdown", graceMs);
    await this.done;
  }

  private graceMs(): number {
    const secs = this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    return Math.min(Math.max(0, secs) * 1000, this.ctx.maxGraceMs);
  }

  private onDeletion(): void {
    if (this.containersDone) {
      void this.deleteNow();
      return;
    }
    this.requestStop("deleted", this.graceMs());
  }

  private requestStop(kind: StopKind, graceMs: number): void {
    const escalate = kind === "gone" || kind === "shutdown";
    if (this.stopKind !== undefined) {
      if (escalate && graceMs < this.stopGraceMs) {
        if (kind === "gone") this.stopKind = kind;
        for (const p of this.procs.values()) void p.stop(graceMs);
      }
      return;
    }
    this.stopKind = kind;
    this.stopGraceMs = graceMs;
    this.stopController.abort();
    if (this.procs.size > 0) this.ctx.log(`${this.key}: stopping containers (${kind}, grace ${graceMs} ms)`);
    for (const [name, p] of this.procs) {
      if (kind === "deleted" || kind === "deadline") this.ctx.event(this.pod, "Normal", "Killing", `Stopping container ${name}`, name);
      void p.stop(graceMs);
    }
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    const ads = this.pod.spec?.activeDeadlineSeconds;
    if (!ads || ads <= 0 || this.containersDone || this.stopping) return;
    const remaining = Date.parse(this.model.startTime) + ads * 1000 - Date.now();
    this.deadlineTimer = setTimeout(() => {
      if (this.stopping || this.containersDone) return;
      this.ctx.log(`${this.key}: activeDeadlineSeconds ${ads} exceeded`);
      this.ctx.event(this.pod, "Normal", "DeadlineExceeded", DEADLINE_MESSAGE);
      // Decided before the kill: a status written as the killed container exits must already say why.
      this.model.forced = { phase: "Failed", reason: "DeadlineExceeded", message: DEADLINE_MESSAGE };
      this.requestStop("deadline", this.graceMs());
    }, Math.max(0, remaining));
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        this.stopController.signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      this.stopController.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private async run(): Promise<void> {
    try {
      await this.runPod();
    } catch (err) {
      this.ctx.log(`${this.key}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      for (const p of this.procs.values()) void p.stop(0);
      this.containersDone = true;
    } finally {
      clearTimeout(this.deadlineTimer);
    }
  }

  private async runPod(): Promise<void> {
    if (isTerminalPhase(this.pod.status?.phase)) {
      this.terminalDecided = true;
      this.containersDone = true;
      if (this.pod.metadata?.deletionTimestamp) await this.deleteNow();
      return;
    }
    await mkdir(this.dir, { recursive: true });
    const previous = await readPodState(this.dir);
    const statusShowsStarted = [...(this.pod.status?.initContainerStatuses ?? []), ...(this.pod.status?.containerStatuses ?? [])].some(
      (s) => s.state?.running || s.state?.terminated || s.lastState?.terminated,
    );
    if ((previous && previous.started.length > 0) || statusShowsStarted) {
      await this.failAfterAgentRestart(previous);
      return;
    }
    await writePodState(this.dir, this.state);
    this.markDirty();
    this.armDeadline();
    if (this.pod.metadata?.deletionTimestamp) this.onDeletion();

    const volumeDirs = await this.setUpVolumes();
    if (volumeDirs && !this.stopping) {
      this.model.sandboxReady = true;
      this.markDirty();
      let initialized = true;
      const inits = this.pod.spec?.initContainers ?? [];
      for (const [i, c] of inits.entries()) {
        const cm = this.model.initContainers[i];
        if (!cm) continue;
        const code = await this.runContainer(c, cm, true, volumeDirs);
        if (code !== 0) {
          initialized = false;
          break;
        }
      }
      if (initialized && !this.stopping) {
        for (const cm of this.model.containers) {
          if ("waiting" in cm.state && cm.state.waiting.reason === "PodInitializing") cm.state = waiting("ContainerCreating");
        }
        const containers = this.pod.spec?.containers ?? [];
        await Promise.all(
          containers.map((c, i) => {
            const cm = this.model.containers[i];
            return cm ? this.runContainer(c, cm, false, volumeDirs) : Promise.resolve(undefined);
          }),
        );
      }
    }
    this.containersDone = true;
    clearTimeout(this.deadlineTimer);
    await this.finish();
  }

  private async finish(): Promise<void> {
    const kind = this.stopKind;
    if (kind === "gone" || kind === "shutdown" || kind === "external") {
      if (kind !== "shutdown") await tearDownVolumes(this.dir).catch(() => undefined);
      return;
    }
    if (kind === "deadline") {
      this.model.forced = { phase: "Failed", reason: "DeadlineExceeded", message: DEADLINE_MESSAGE };
    } else if (kind === "deleted") {
      const all = [...this.model.initContainers, ...this.model.containers];
      const ok = all.every((c) => isTerminated(c.state) && c.state.terminated.exitCode === 0);
      this.model.forced = { phase: ok ? "Succeeded" : "Failed" };
    }
    if (this.model.forced) this.markNeverStartedAsUnknown();
    const phase = computePhase(this.pod.spec?.restartPolicy ?? "Always", this.model);
    this.terminalDecided = isTerminalPhase(phase);
    this.ctx.log(`${this.key}: ${phase}${this.model.forced?.reason ? ` (${this.model.forced.reason})` : ""}`);
    this.markDirty();
    await this.flush();
    await tearDownVolumes(this.dir).catch(() => undefined);
    if (this.pod.metadata?.deletionTimestamp) await this.deleteNow();
  }

  /** kubelet reports containers that never ran in a pod that ended as terminated, status unknown. */
  private markNeverStartedAsUnknown(): void {
    const now = rfc3339(new Date());
    for (const cm of [...this.model.initContainers, ...this.model.containers]) {
      if (isTerminated(cm.state) || "running" in cm.state) continue;
      cm.state = {
        terminated: {
          exitCode: 137,
          reason: "ContainerStatusUnknown",
          message: "The container could not be located when the pod was terminated",
          finishedAt: now,
        },
      };
    }
  }

  private async failAfterAgentRestart(previous: PodState | undefined): Promise<void> {
    if (previous) {
      const killed = await killRecordedProcesses(previous);
      if (killed > 0) this.ctx.log(`${this.key}: killed ${killed} process group(s) left by the previous agent`);
      this.state = { ...previous, processes: {} };
      await writePodState(this.dir, this.state).catch(() => undefined);
    }
    const now = rfc3339(new Date());
    const fromStatus = (statuses: V1ContainerStatus[] | undefined, models: ContainerModel[]) => {
      for (const cm of models) {
        const s = (statuses ?? []).find((x) => x.name === cm.name);
        cm.restartCount = s?.restartCount ?? 0;
        if (s?.containerID) cm.containerID = s.containerID;
        const t = s?.state?.terminated;
        if (t) {
          cm.state = {
            terminated: {
              exitCode: t.exitCode,
              reason: t.reason ?? (t.exitCode === 0 ? "Completed" : "Error"),
              ...(t.message ? { message: t.message } : {}),
              ...(t.startedAt ? { startedAt: rfc3339(new Date(t.startedAt)) } : {}),
              finishedAt: t.finishedAt ? rfc3339(new Date(t.finishedAt)) : now,
            },
          };
        } else if (s?.state?.running) {
          cm.state = {
            terminated: {
              exitCode: 137,
              reason: "Error",
              message: RESTARTED_MESSAGE,
              ...(s.state.running.startedAt ? { startedAt: rfc3339(new Date(s.state.running.startedAt)) } : {}),
              finishedAt: now,
            },
          };
        }
      }
    };
    fromStatus(this.pod.status?.initContainerStatuses, this.model.initContainers);
    fromStatus(this.pod.status?.containerStatuses, this.model.containers);
    this.model.sandboxReady = true;
    this.model.forced = { phase: "Failed", reason: "NodeAgentRestarted", message: RESTARTED_MESSAGE };
    this.markNeverStartedAsUnknown();
    this.terminalDecided = true;
    this.containersDone = true;
    this.ctx.log(`${this.key}: Failed (NodeAgentRestarted)`);
    this.markDirty();
    await this.flush();
    await tearDownVolumes(this.dir).catch(() => undefined);
    if (this.pod.metadata?.deletionTimestamp) await this.deleteNow();
  }

  private async setUpVolumes(): Promise<Map<string, string> | undefined> {
    let backoff = FIRST_RETRY_MS;
    let lastMessage = "";
    while (!this.stopping) {
      try {
        return await setUpVolumes(this.pod, this.ctx.kube, { pvcRoot: this.ctx.pvcRoot, podDir: this.dir, facts: this.ctx.facts });
      } catch (err) {
        const message = err instanceof MountError ? err.message : `volume setup: ${describeError(err)}`;
        if (message !== lastMessage) {
          this.ctx.log(`${this.key}: ${message}; retrying`);
          this.ctx.event(this.pod, "Warning", "FailedMount", message);
        }
        lastMessage = message;
        for (const cm of [...this.model.initContainers, ...this.model.containers]) {
          cm.state = waiting("ContainerCreating", message);
        }
        this.markDirty();
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
    return undefined;
  }

  private async envObjects(c: V1Container): Promise<EnvObjects> {
    const refs = referencedObjects(c);
    const secrets = new Map<string, ObjectData>();
    const configMaps = new Map<string, ObjectData>();
    for (const name of refs.secrets) secrets.set(name, toText(await this.ctx.kube.secret(this.namespace, name)));
    for (const name of refs.configMaps) configMaps.set(name, toText(await this.ctx.kube.configMap(this.namespace, name)));
    return { secrets, configMaps };
  }

  private async saveState(): Promise<void> {
    try {
      await writePodState(this.dir, this.state);
    } catch (err) {
      this.ctx.log(`${this.key}: cannot record state: ${describeError(err)}`);
    }
  }

  /**
   * Runs one container until it ends for good (by restartPolicy) or the pod is stopped. Returns its
   * last exit code, or undefined when it never ran.
   */
  private async runContainer(
    c: V1Container,
    cm: ContainerModel,
    isInit: boolean,
    volumeDirs: ReadonlyMap<string, string>,
  ): Promise<number | undefined> {
    let restartBackoff = 1000;
    let configBackoff = FIRST_RETRY_MS;
    let exitCode: number | undefined;
    while (!this.stopping) {
      if (isInit && c.restartPolicy === "Always") {
        cm.state = waiting(
          "CreateContainerConfigError",
          "sidecar containers (initContainers with restartPolicy Always) are not supported by the blobstash node agent",
        );
        this.markDirty();
        await this.sleep(2 ** 31 - 1);
        return undefined;
      }
      let objects: EnvObjects;
      try {
        objects = await this.envObjects(c);
      } catch (err) {
        this.ctx.log(`${this.key}/${c.name}: reading env sources failed (${describeError(err)}); retrying`);
        await this.sleep(configBackoff);
        configBackoff = Math.min(configBackoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      // subPathExpr needs the env, and the env's literals need the mounts: resolve twice.
      const plain = resolveContainerEnv(this.pod, c, objects, this.ctx.facts);
      if (!plain.ok) {
        if (!("waiting" in cm.state) || cm.state.waiting.message !== plain.message) {
          this.ctx.log(`${this.key}/${c.name}: ${plain.reason}: ${plain.message}`);
          this.ctx.event(this.pod, "Warning", "Failed", `Error: ${plain.message}`, c.name);
        }
        cm.state = waiting(plain.reason, plain.message);
        this.markDirty();
        await this.sleep(configBackoff);
        configBackoff = Math.min(configBackoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      const termFile = path.join(this.dir, `${c.name}.termination-log`);
      const logFile = path.join(this.dir, `${c.name}.log`);
      const mappings = containerMappings(c, volumeDirs, termFile, plain.env);
      const rewrite = makePathRewriter(mappings);
      const resolved = resolveContainerEnv(this.pod, c, objects, this.ctx.facts, rewrite);
      const env = resolved.ok ? resolved.env : plain.env;
      const spec = buildProcessSpec(c, env, {
        nodeEnv: this.ctx.nodeEnv,
        rewrite,
        defaultCwd: path.join(this.dir, "cwd", c.name),
        rootDir: path.join(this.dir, "root"),
      });
      // kubelet creates a missing subPath inside its volume.
      const volumeRoots = new Set(volumeDirs.values());
      for (const m of mappings) {
        if (m.to !== termFile && !volumeRoots.has(m.to)) await mkdir(m.to, { recursive: true }).catch(() => undefined);
      }
      await writeFile(termFile, "");

      let terminated: Extract<ContainerState, { terminated: unknown }>["terminated"];
      const startedAt = new Date();
      if (!spec.ok) {
        terminated = { exitCode: 128, reason: spec.reason, message: spec.message, startedAt: rfc3339(startedAt), finishedAt: rfc3339(new Date()) };
        this.ctx.event(this.pod, "Warning", "Failed", `Error: ${spec.message}`, c.name);
      } else {
        await mkdir(spec.spec.cwd, { recursive: true });
        const started = await startProcess(spec.spec, logFile);
        if (!started.ok) {
          terminated = { exitCode: 128, reason: "StartError", message: started.message, startedAt: rfc3339(startedAt), finishedAt: rfc3339(new Date()) };
          this.ctx.event(this.pod, "Warning", "Failed", `Error: ${started.message}`, c.name);
        } else {
          const proc = started.proc;
          this.procs.set(c.name, proc);
          if (this.stopping) void proc.stop(this.stopGraceMs);
          const containerID = `process://${proc.pid}`;
          if (!this.state.started.includes(c.name)) this.state.started.push(c.name);
          const startTicks = (await processInfo(proc.pid))?.startTicks;
          this.state.processes[c.name] = { pid: proc.pid, ...(startTicks ? { startTicks } : {}) };
          await this.saveState();
          cm.containerID = containerID;
          cm.state = { running: { startedAt: rfc3339(proc.startedAt) } };
          this.ctx.log(`${this.key}/${c.name}: started pid ${proc.pid}: ${spec.spec.file}`);
          this.ctx.event(this.pod, "Normal", "Started", `Started container ${c.name} (pid ${proc.pid})`, c.name);
          this.markDirty();
          const exit = await proc.exited;
          this.procs.delete(c.name);
          delete this.state.processes[c.name];
          await this.saveState();
          const message = await readTerminationMessage(termFile, { policy: c.terminationMessagePolicy, exitCode: exit.exitCode, logFile });
          terminated = {
            exitCode: exit.exitCode,
            ...(exit.signal !== undefined ? { signal: exit.signal } : {}),
            reason: exit.exitCode === 0 ? "Completed" : "Error",
            ...(message ? { message } : {}),
            startedAt: rfc3339(proc.startedAt),
            finishedAt: rfc3339(exit.finishedAt),
            containerID,
          };
          this.ctx.log(`${this.key}/${c.name}: exited ${exit.exitCode}`);
        }
      }
      exitCode = terminated.exitCode;
      cm.state = { terminated };
      this.markDirty();
      if (this.stopping) return exitCode;

      const policy = this.pod.spec?.restartPolicy ?? "Always";
      const restart = exitCode !== 0 ? policy !== "Never" : policy === "Always" && !isInit;
      if (!restart) return exitCode;
      cm.lastState = cm.state;
      cm.restartCount++;
      this.ctx.event(this.pod, "Warning", "BackOff", "Back-off restarting failed container", c.name);
      cm.state = waiting(
        "CrashLoopBackOff",
        `back-off ${restartBackoff / 1000}s restarting failed container=${c.name} pod=${this.name}_${this.namespace}(${this.uid})`,
      );
      this.markDirty();
      await this.sleep(restartBackoff);
      restartBackoff = Math.min(restartBackoff * 2, MAX_BACKOFF_MS);
    }
    return exitCode;
  }

  private markDirty(): void {
    this.dirty = true;
    this.writing ??= this.writeLoop().finally(() => {
      this.writing = undefined;
    });
  }

  private async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeLoop(): Promise<void> {
    let backoff = 500;
    while (this.dirty && this.stopKind !== "gone") {
      this.dirty = false;
      const status = buildPodStatus(this.pod, this.model, { ip: this.ctx.ip, now: new Date() });
      const body = JSON.stringify(status);
      if (body === this.lastWritten) continue;
      try {
        const updated = await this.ctx.kube.patchPodStatus(this.namespace, this.name, status);
        this.lastWritten = body;
        if (resourceVersionOf(updated) >= resourceVersionOf(this.pod)) this.pod = updated;
        backoff = 500;
      } catch (err) {
        const code = statusCode(err);
        if (code === 404) {
          this.gone();
          return;
        }
        this.ctx.log(`${this.key}: status update failed (${describeError(err)})`);
        // A request the server rejects as invalid will not get better by repeating it.
        if (code !== undefined && code >= 400 && code < 500 && code !== 409 && code !== 429) continue;
        this.dirty = true;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private async deleteNow(): Promise<void> {
    if (this.deleteIssued || this.stopKind === "gone") return;
    this.deleteIssued = true;
    try {
      await this.ctx.kube.deletePodNow(this.namespace, this.name, this.uid);
      this.ctx.log(`${this.key}: deleted`);
    } catch (err) {
      if (statusCode(err) === 409) return; // uid precondition: a different pod now has this name
      this.ctx.log(`${this.key}: final delete failed (${describeError(err)}); retrying`);
      this.deleteIssued = false;
      setTimeout(() => void this.deleteNow(), 2000);
    }
  }
}
