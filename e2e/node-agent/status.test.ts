import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import { buildPodStatus, computePhase, type ContainerModel, type PodModel } from "./status.ts";

const T0 = "2030-01-01T00:00:00Z";
const now = new Date("2030-01-01T00:00:05.123Z");

function c(name: string, state: ContainerModel["state"], extra: Partial<ContainerModel> = {}): ContainerModel {
  return { name, image: "img", state, restartCount: 0, ...extra };
}
const waiting = { waiting: { reason: "ContainerCreating" } };
const running = { running: { startedAt: T0 } };
const exit = (code: number) => ({ terminated: { exitCode: code, reason: code ? "Error" : "Completed", finishedAt: T0 } });

function model(containers: ContainerModel[], initContainers: ContainerModel[] = [], extra: Partial<PodModel> = {}): PodModel {
  return { containers, initContainers, startTime: T0, sandboxReady: true, ...extra };
}

function pod(restartPolicy = "Never", conditions: V1Pod["status"] = {}): V1Pod {
  return {
    metadata: { name: "p", namespace: "ns", uid: "u", generation: 1 },
    spec: { restartPolicy, containers: [{ name: "main" }] },
    status: conditions,
  };
}

describe("node-agent pod status", () => {
  describe("computePhase", () => {
    it("is Pending until every container has started", () => {
      assert.equal(computePhase("Never", model([c("a", waiting)])), "Pending");
      assert.equal(computePhase("Never", model([c("a", running), c("b", waiting)])), "Pending");
      assert.equal(computePhase("Never", model([c("a", running)], [c("i", running)])), "Pending");
    });

    it("is Running while any container runs", () => {
      assert.equal(computePhase("Never", model([c("a", running), c("b", exit(1))])), "Running");
    });

    it("ends Succeeded or Failed under Never", () => {
      assert.equal(computePhase("Never", model([c("a", exit(0)), c("b", exit(0))])), "Succeeded");
      assert.equal(computePhase("Never", model([c("a", exit(0)), c("b", exit(2))])), "Failed");
      assert.equal(computePhase("Never", model([c("a", waiting)], [c("i", exit(1))])), "Failed");
    });

    it("keeps restarting under OnFailure and Always", () => {
      assert.equal(computePhase("OnFailure", model([c("a", exit(1))])), "Running");
      assert.equal(computePhase("OnFailure", model([c("a", exit(0))])), "Succeeded");
      assert.equal(computePhase("Always", model([c("a", exit(0))])), "Running");
      const backoff = c("a", { waiting: { reason: "CrashLoopBackOff" } }, { lastState: exit(1), restartCount: 1 });
      assert.equal(computePhase("OnFailure", model([backoff])), "Running");
      assert.equal(computePhase("OnFailure", model([c("a", waiting)], [c("i", exit(1))])), "Pending");
    });

    it("lets the agent force the end", () => {
      const m = model([c("a", exit(137))], [], { forced: { phase: "Failed", reason: "DeadlineExceeded" } });
      assert.equal(computePhase("OnFailure", m), "Failed");
    });
  });

  describe("buildPodStatus", () => {
    it("reports a running pod as ready with IPs and start time", () => {
      const s = buildPodStatus(pod(), model([c("main", running, { containerID: "process://42" })]), { ip: "127.0.0.1", now });
      assert.equal(s.phase, "Running");
      assert.equal(s.podIP, "127.0.0.1");
      assert.deepEqual(s.hostIPs, [{ ip: "127.0.0.1" }]);
      assert.equal(s.startTime, T0);
      const conds = s.conditions as Array<Record<string, unknown>>;
      const byType = Object.fromEntries(conds.map((x) => [x.type, x]));
      assert.equal(byType.Ready?.status, "True");
      assert.equal(byType.ContainersReady?.status, "True");
      assert.equal(byType.Initialized?.status, "True");
      assert.equal(byType.PodScheduled?.status, "True");
      assert.equal(byType.Ready?.lastTransitionTime, "2030-01-01T00:00:05Z");
      const [cs] = s.containerStatuses as Array<Record<string, unknown>>;
      assert.equal(cs?.containerID, "process://42");
      assert.equal(cs?.ready, true);
      assert.equal(cs?.started, true);
    });

    it("reports a completed pod with the termination message and PodCompleted", () => {
      const done = { terminated: { exitCode: 0, reason: "Completed", message: "done\n", startedAt: T0, finishedAt: T0 } };
      const s = buildPodStatus(pod(), model([c("main", done)]), { ip: "127.0.0.1", now });
      assert.equal(s.phase, "Succeeded");
      const [cs] = s.containerStatuses as Array<{ state: typeof done; ready: boolean }>;
      assert.equal(cs?.state.terminated.message, "done\n");
      assert.equal(cs?.ready, false);
      const ready = (s.conditions as Array<Record<string, unknown>>).find((x) => x.type === "Ready");
      assert.equal(ready?.status, "False");
      assert.equal(ready?.reason, "PodCompleted");
    });

    it("keeps lastTransitionTime of unchanged conditions and foreign conditions", () => {
      const earlier = new Date("2029-12-31T00:00:00Z");
      const p = pod("Never", {
        conditions: [
          { type: "Ready", status: "False", lastTransitionTime: earlier },
          { type: "Initialized", status: "True", lastTransitionTime: earlier },
          { type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager", lastTransitionTime: earlier },
        ],
      });
      const s = buildPodStatus(p, model([c("main", running)]), { ip: "127.0.0.1", now });
      const byType = Object.fromEntries((s.conditions as Array<Record<string, unknown>>).map((x) => [x.type, x]));
      assert.equal(byType.Initialized?.lastTransitionTime, "2029-12-31T00:00:00Z");
      assert.equal(byType.Ready?.lastTransitionTime, "2030-01-01T00:00:05Z");
      assert.equal(byType.DisruptionTarget?.reason, "DeletionByTaintManager");
    });

    it("names the init containers that hold the pod back", () => {
      const s = buildPodStatus(pod(), model([c("main", waiting)], [c("init-a", running)]), { ip: "127.0.0.1", now });
      const init = (s.conditions as Array<Record<string, unknown>>).find((x) => x.type === "Initialized");
      assert.equal(init?.status, "False");
      assert.equal(init?.message, "containers with incomplete status: [init-a]");
      assert.equal((s.initContainerStatuses as unknown[]).length, 1);
    });

    it("carries the forced reason and message at pod level", () => {
      const m = model([c("main", exit(137))], [], {
        forced: { phase: "Failed", reason: "DeadlineExceeded", message: "Pod was active on the node longer than the specified deadline" },
      });
      const s = buildPodStatus(pod(), m, { ip: "127.0.0.1", now });
      assert.equal(s.phase, "Failed");
      assert.equal(s.reason, "DeadlineExceeded");
    });
  });
});
