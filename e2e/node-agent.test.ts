// The node agent under a real control plane: Jobs created through the API server, completed or failed
// by the real job controller, deleted through the real garbage collector, their pods run by the agent
// as host processes. The container's PID is observable as its containerID, `process://<pid>`.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job, type V1Pod, type V1PodSpec } from "@kubernetes/client-node";
import { cluster } from "./fixture.ts";

const WAIT_MS = 30_000;

/** Polls until `check` returns a value (not undefined), or fails with the last thing it saw. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Alive and not a zombie. */
async function processAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

function pidOf(pod: V1Pod): number {
  const id = pod.status?.containerStatuses?.[0]?.containerID ?? "";
  const m = /^process:\/\/(\d+)$/.exec(id);
  assert.ok(m, `containerID ${JSON.stringify(id)} is not process://<pid>`);
  return Number(m[1]);
}

describe("node agent: Jobs run as host processes", function () {
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let ns: string;

  before(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster().kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    ns = `node-agent-${randomBytes(3).toString("hex")}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  after(async () => {
    if (ns) await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  async function createJob(name: string, spec: Omit<V1PodSpec, "restartPolicy">, backoffLimit = 0): Promise<V1Job> {
    return batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name },
        spec: { backoffLimit, template: { spec: { restartPolicy: "Never", ...spec } } },
      },
    });
  }

  async function jobCondition(name: string, type: "Complete" | "Failed"): Promise<V1Job> {
    return waitFor(`Job ${name} ${type}`, async () => {
      const job = await batch.readNamespacedJob({ name, namespace: ns });
      const other = type === "Complete" ? "Failed" : "Complete";
      const conds = job.status?.conditions ?? [];
      if (conds.some((c) => c.type === other && c.status === "True")) throw new Error(`Job ${name} is ${other}`);
      return conds.some((c) => c.type === type && c.status === "True") ? job : undefined;
    });
  }

  async function jobPods(name: string): Promise<V1Pod[]> {
    return (await core.listNamespacedPod({ namespace: ns, labelSelector: `batch.kubernetes.io/job-name=${name}` })).items;
  }

  async function onlyPod(name: string, ready: (p: V1Pod) => boolean = () => true): Promise<V1Pod> {
    return waitFor(`the pod of Job ${name}`, async () => {
      const [p] = await jobPods(name);
      return p && ready(p) ? p : undefined;
    });
  }

  const running = (p: V1Pod) => p.status?.phase === "Running" && !!p.status.containerStatuses?.[0]?.state?.running;

  it("completes a Job and reports its termination message", async () => {
    await createJob("done", { containers: [{ name: "main", image: "busybox", command: ["sh", "-c", "echo done > /dev/termination-log"] }] });
    await jobCondition("done", "Complete");
    const pod = await onlyPod("done");
    assert.equal(pod.spec?.nodeName, "blobstash-local");
    assert.equal(pod.status?.phase, "Succeeded");
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(terminated?.exitCode, 0);
    assert.equal(terminated?.reason, "Completed");
    assert.equal(terminated?.message, "done\n");
  });

  it("fails a Job whose command exits 1 (backoffLimit 0)", async () => {
    await createJob("exit1", { containers: [{ name: "main", image: "busybox", command: ["sh", "-c", "echo boom >&2; exit 1"] }] });
    const job = await jobCondition("exit1", "Failed");
    assert.equal(job.status?.conditions?.find((c) => c.type === "Failed")?.reason, "BackoffLimitExceeded");
    const pod = await onlyPod("exit1");
    assert.equal(pod.status?.phase, "Failed");
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 1);
    const log = path.join(cluster().dir, "node", "pods", `${ns}_${pod.metadata?.name}_${pod.metadata?.uid}`, "main.log");
    assert.equal(await readFile(log, "utf8"), "boom\n");
  });

  for (const propagationPolicy of ["Foreground", "Background"] as const) {
    it(`kills the process of a running Job deleted with propagationPolicy ${propagationPolicy}`, async () => {
      const name = `sleep-${propagationPolicy.toLowerCase()}`;
      await createJob(name, {
        terminationGracePeriodSeconds: 30,
        containers: [{ name: "main", image: "busybox", command: ["sleep", "300"] }],
      });
      const pod = await onlyPod(name, running);
      const pid = pidOf(pod);
      assert.equal(await processAlive(pid), true, `pid ${pid} should run before the deletion`);
      await batch.deleteNamespacedJob({ name, namespace: ns, propagationPolicy });
      await waitFor(`the pod of Job ${name} to be deleted`, async () => ((await jobPods(name)).length === 0 ? true : undefined));
      // The agent deletes the Pod object only after its process is gone, as kubelet does.
      assert.equal(await processAlive(pid), false, `pid ${pid} still runs after its pod was deleted`);
    });
  }

  it("resolves secretKeyRef, configMapKeyRef and fieldRef env vars", async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "creds" }, stringData: { PASSWORD: "p4ss /data w0rd" } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "cfg" }, data: { MODE: "fast" } } });
    await createJob("env", {
      containers: [
        {
          name: "main",
          image: "busybox",
          command: ["sh", "-c", 'printf "%s|%s|%s|%s" "$PW" "$MODE" "$NS" "${OPT-unset}" > /dev/termination-log'],
          env: [
            { name: "PW", valueFrom: { secretKeyRef: { name: "creds", key: "PASSWORD" } } },
            { name: "MODE", valueFrom: { configMapKeyRef: { name: "cfg", key: "MODE" } } },
            { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
            { name: "OPT", valueFrom: { secretKeyRef: { name: "creds", key: "ABSENT", optional: true } } },
          ],
        },
      ],
    });
    await jobCondition("env", "Complete");
    const pod = await onlyPod("env");
    // Secret values reach the process byte for byte: path rewriting never touches them.
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.message, `p4ss /data w0rd|fast|${ns}|unset`);
  });

  it("keeps a pod Pending with CreateContainerConfigError until its Secret exists", async () => {
    await createJob("late-secret", {
      containers: [
        {
          name: "main",
          image: "busybox",
          command: ["sh", "-c", 'printf "%s" "$TOKEN" > /dev/termination-log'],
          env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "late", key: "token" } } }],
        },
      ],
    });
    const pending = await onlyPod("late-secret", (p) => !!p.status?.containerStatuses?.[0]?.state?.waiting?.message);
    assert.equal(pending.status?.phase, "Pending");
    const waiting = pending.status?.containerStatuses?.[0]?.state?.waiting;
    assert.equal(waiting?.reason, "CreateContainerConfigError");
    assert.equal(waiting?.message, 'secret "late" not found');
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "late" }, stringData: { token: "t0k" } } });
    await jobCondition("late-secret", "Complete");
    assert.equal((await onlyPod("late-secret")).status?.containerStatuses?.[0]?.state?.terminated?.message, "t0k");
  });

  it("maps a PVC mount to <pvcRoot>/<ns>/<claim>/ by rewriting the mount path", async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: { metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } },
    });
    await createJob("pvc", {
      containers: [
        {
          name: "main",
          image: "busybox",
          command: ["sh", "-c"],
          args: ["echo hello > /data/out/hello.txt && pwd > $(DIR)/pwd.txt"],
          workingDir: "/data/out",
          env: [{ name: "DIR", value: "/data" }],
          volumeMounts: [{ name: "data", mountPath: "/data" }],
        },
      ],
      volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }],
    });
    await jobCondition("pvc", "Complete");
    const claimDir = path.join(cluster().pvcRoot, ns, "data");
    assert.equal(await readFile(path.join(claimDir, "out", "hello.txt"), "utf8"), "hello\n");
    assert.equal(await readFile(path.join(claimDir, "pwd.txt"), "utf8"), `${path.join(claimDir, "out")}\n`);
  });

  it("kills a pod that outlives activeDeadlineSeconds", async () => {
    await createJob("deadline", {
      activeDeadlineSeconds: 2,
      containers: [{ name: "main", image: "busybox", command: ["sleep", "300"] }],
    });
    const pid = pidOf(await onlyPod("deadline", running));
    const failed = await onlyPod("deadline", (p) => p.status?.phase === "Failed");
    assert.equal(failed.status?.reason, "DeadlineExceeded");
    assert.equal(await processAlive(pid), false, `pid ${pid} still runs after the deadline`);
    await jobCondition("deadline", "Failed");
  });

  it("a restarted agent fails the pods it was running and never re-runs finished ones", async () => {
    // A second agent, for a node of its own, started as its own process so that it can be SIGKILLed
    // like a crashed kubelet. --no-scheduler: it must not take unscheduled pods from the shared node.
    const nodeName = `restart-${randomBytes(3).toString("hex")}`;
    const workDir = await mkdtemp(path.join(os.tmpdir(), "node-agent-restart-"));
    const logFile = path.join(workDir, "agent.log");
    const main = path.join(import.meta.dirname, "node-agent", "main.ts");
    const startAgent = async (): Promise<ChildProcess> => {
      const log = await open(logFile, "a");
      // setpriv: the agent dies with this test process even if mocha is killed hard.
      const child = spawn(
        "setpriv",
        ["--pdeathsig", "KILL", "--", process.execPath, main, "--kubeconfig", cluster().kubeconfig, "--node-name", nodeName,
          "--pvc-root", cluster().pvcRoot, "--work-dir", workDir, "--no-scheduler"],
        { stdio: ["ignore", log.fd, log.fd], env: { PATH: process.env.PATH ?? "", HOME: os.homedir() } },
      );
      await log.close();
      return child;
    };
    const pod = (name: string, command: string[]): V1Pod => ({
      metadata: { name, namespace: ns },
      spec: { nodeName, restartPolicy: "Never", containers: [{ name: "main", image: "busybox", command }] },
    });
    const readPod = (name: string) => core.readNamespacedPod({ name, namespace: ns });

    let agent = await startAgent();
    try {
      await core.createNamespacedPod({ namespace: ns, body: pod("finished", ["sh", "-c", "echo ran"]) });
      await core.createNamespacedPod({ namespace: ns, body: pod("running", ["sleep", "300"]) });
      const finished = await waitFor("pod finished to succeed", async () => {
        const p = await readPod("finished");
        return p.status?.phase === "Succeeded" ? p : undefined;
      });
      const pid = pidOf(await waitFor("pod running to run", async () => {
        const p = await readPod("running");
        return running(p) ? p : undefined;
      }));

      agent.kill("SIGKILL");
      await once(agent, "exit");
      agent = await startAgent();

      const failed = await waitFor("pod running to be failed by the restarted agent", async () => {
        const p = await readPod("running");
        return p.status?.phase === "Failed" ? p : undefined;
      });
      assert.equal(failed.status?.reason, "NodeAgentRestarted");
      assert.equal(await processAlive(pid), false, `pid ${pid} outlived the agent that started it`);
      const after = await readPod("finished");
      assert.equal(after.status?.phase, "Succeeded");
      assert.equal(after.status?.containerStatuses?.[0]?.containerID, finished.status?.containerStatuses?.[0]?.containerID);
      const containerLog = path.join(workDir, "pods", `${ns}_finished_${finished.metadata?.uid}`, "main.log");
      assert.equal(await readFile(containerLog, "utf8"), "ran\n", "the finished pod ran again");
    } finally {
      agent.kill("SIGTERM");
      if (agent.exitCode === null && agent.signalCode === null) await once(agent, "exit");
      await core.deleteNode({ name: nodeName }).catch(() => undefined);
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
