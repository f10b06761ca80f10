import assert from "node:assert/strict";
import type { CoreV1Event, V1Job, V1Pod } from "@kubernetes/client-node";
import { notStartedProblem, podStart } from "./pod-start.ts";

const job: V1Job = { metadata: { name: "s-backup" } };
const pod = (status: V1Pod["status"], nodeName?: string): V1Pod => ({ metadata: { name: "s-backup-abcde" }, spec: { containers: [], ...(nodeName ? { nodeName } : {}) }, status });
const event = (kind: string, name: string, reason: string, message: string, at = "2026-01-01T00:00:05Z"): CoreV1Event => ({
  metadata: {},
  involvedObject: { kind, name },
  type: "Warning",
  reason,
  message,
  lastTimestamp: at as unknown as Date,
});

describe("why a Job's pod has not started", () => {
  it("is started once a container ran, whatever the events say", () => {
    assert.deepEqual(podStart(job, [pod({ phase: "Running" })], []), { state: "started" });
    assert.deepEqual(podStart(job, [pod({ phase: "Pending", containerStatuses: [{ name: "restic", image: "", imageID: "", ready: false, restartCount: 0, state: { terminated: { exitCode: 0 } } }] })], [event("Pod", "s-backup-abcde", "FailedMount", "x")]), { state: "started" });
  });

  it("quotes the scheduler for an unschedulable pod", () => {
    const msg = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available.";
    const s = podStart(job, [pod({ phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: msg }] })], []);
    assert.deepEqual(s, { state: "waiting", problem: { reason: "Unschedulable", message: `pod s-backup-abcde: ${msg}` } });
  });

  it("quotes the kubelet for image pulls and container configuration", () => {
    const waiting = (reason: string, message: string) => pod({ phase: "Pending", containerStatuses: [{ name: "restic", image: "", imageID: "", ready: false, restartCount: 0, state: { waiting: { reason, message } } }] }, "node-1");
    const s = podStart(job, [waiting("ErrImageNeverPull", 'Container image "x" is not present with pull policy of Never')], []);
    assert.equal(s.state === "waiting" && s.problem?.reason, "ImagePullFailed");
    assert.match(s.state === "waiting" ? s.problem!.message : "", /ErrImageNeverPull: Container image "x" is not present/);
    const c = podStart(job, [waiting("CreateContainerConfigError", 'secret "s-backup-credentials" not found')], []);
    assert.equal(c.state === "waiting" && c.problem?.reason, "ContainerCreateFailed");
    // ContainerCreating is no reason by itself: it waits for the kubelet's events.
    assert.deepEqual(podStart(job, [waiting("ContainerCreating", "")], []), { state: "waiting" });
  });

  it("takes mount and attach failures from the newest Warning event about the pod", () => {
    const p = pod({ phase: "Pending" }, "node-2");
    const events = [
      event("Pod", "s-backup-abcde", "FailedMount", "MountVolume.SetUp failed for volume \"pvc-1\" : old", "2026-01-01T00:00:01Z"),
      event("Pod", "s-backup-abcde", "FailedAttachVolume", "Multi-Attach error for volume \"pvc-1\" Volume is already used by pod(s) app-7d9", "2026-01-01T00:00:09Z"),
      event("Pod", "other-pod", "FailedMount", "not ours", "2026-01-01T00:00:10Z"),
    ];
    const s = podStart(job, [p], events);
    assert.equal(s.state === "waiting" && s.problem?.reason, "VolumeAttachFailed");
    assert.match(s.state === "waiting" ? s.problem!.message : "", /^pod s-backup-abcde on node node-2: FailedAttachVolume: Multi-Attach error .* app-7d9$/);
  });

  it("says why the Job controller made no pod (an admission policy or quota refused it)", () => {
    const s = podStart(job, [], [event("Job", "s-backup", "FailedCreate", 'Error creating: pods "s-backup-x" is forbidden: violates PodSecurity "restricted:latest"')]);
    assert.equal(s.state === "waiting" && s.problem?.reason, "PodRejected");
    assert.match(s.state === "waiting" ? s.problem!.message : "", /violates PodSecurity/);
    assert.deepEqual(podStart(job, [], []), { state: "waiting" });
  });

  it("says when the pod's node is gone", () => {
    const s = podStart(job, [pod({ phase: "Pending", conditions: [{ type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager", message: "Taint manager: deleting due to NoExecute taint" }] }, "node-2")], []);
    assert.equal(s.state === "waiting" && s.problem?.reason, "NodeLost");
  });

  it("fails a session with the reason it showed, naming the bound", () => {
    assert.deepEqual(notStartedProblem("20s", { reason: "Unschedulable", message: "pod p: 0/2 nodes" }), {
      reason: "Unschedulable",
      message: "the Job's pod did not start within 20s (the operator's --pod-start-limit), so the Job and its credentials were deleted: pod p: 0/2 nodes",
    });
    assert.equal(notStartedProblem("10m", undefined).reason, "PodNotStarted");
  });
});
