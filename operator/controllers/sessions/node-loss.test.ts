import assert from "node:assert/strict";
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { LEFTOVER_JOB_POLL_MS, leftoverJob, nodeHealth, nodeLostProblem, podReady, runningPod } from "./node-loss.ts";

const pod = (phase: string, ready: "True" | "False", nodeName = "node-1"): V1Pod => ({
  metadata: { name: "s-backup-abcde" },
  spec: { containers: [], nodeName },
  status: { phase, conditions: [{ type: "Ready", status: ready }] },
});
const node = (status: string, reason?: string, message?: string, at = "2026-01-01T00:00:00Z"): V1Node => ({
  metadata: { name: "node-1" },
  status: { conditions: [{ type: "Ready", status, reason, message, lastTransitionTime: at as unknown as Date }] },
});
const now = Date.parse("2026-01-01T00:00:30Z");

describe("a Job's pod on a lost node", () => {
  it("finds the pod that still runs on a node, and reads its Ready condition", () => {
    assert.equal(runningPod([pod("Succeeded", "False"), { metadata: { name: "unscheduled" }, status: { phase: "Pending" } }]), undefined);
    assert.equal(runningPod([pod("Running", "True")])?.metadata?.name, "s-backup-abcde");
    assert.equal(podReady(pod("Running", "True")), true);
    assert.equal(podReady(pod("Running", "False")), false);
    assert.equal(podReady({ metadata: {} }), false);
  });

  it("is fine on a Ready node", () => {
    assert.deepEqual(nodeHealth(pod("Running", "True"), node("True"), now), { state: "ready" });
  });

  it("names the node and quotes the node lifecycle controller when the kubelet stopped posting status", () => {
    const h = nodeHealth(pod("Running", "False"), node("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."), now);
    assert.equal(h.state, "lost");
    if (h.state !== "lost") return;
    assert.equal(h.since, Date.parse("2026-01-01T00:00:00Z"));
    assert.equal(h.problem.reason, "NodeUnreachable");
    assert.equal(h.problem.message, "node node-1, where pod s-backup-abcde runs, is not Ready since 2026-01-01T00:00:00.000Z (NodeStatusUnknown: Kubelet stopped posting node status.)");
  });

  it("tells a node that says it is not ready from one that is silent, and a deleted Node from both", () => {
    const h = nodeHealth(pod("Running", "False"), node("False", "KubeletNotReady", "container runtime is down"), now);
    assert.equal(h.state === "lost" && h.problem.reason, "NodeNotReady");
    const gone = nodeHealth(pod("Running", "False"), undefined, now);
    assert.deepEqual(gone, { state: "lost", since: now, problem: { reason: "NodeDeleted", message: "node node-1, where pod s-backup-abcde runs, was deleted" } });
  });

  it("never dates a loss in the future or from garbage", () => {
    const future = nodeHealth(pod("Running", "False"), node("Unknown", undefined, undefined, "2027-01-01T00:00:00Z"), now);
    assert.equal(future.state === "lost" && future.since, now);
    const garbage = nodeHealth(pod("Running", "False"), node("Unknown", undefined, undefined, "yesterday"), now);
    assert.equal(garbage.state === "lost" && garbage.since, now);
    assert.match(garbage.state === "lost" ? garbage.problem.message : "", /\(no Ready condition\)$/);
  });

  it("fails with NodeLost, the bound and what was cleaned up", () => {
    const p = nodeLostProblem("20s", { reason: "NodeUnreachable", message: "node node-1 is not Ready" });
    assert.deepEqual(p, { reason: "NodeLost", message: "node node-1 is not Ready; after 20s (the operator's --node-lost-limit) the Job and its credentials were deleted" });
  });
});

describe("the Job of a finished session whose pod's node is lost", () => {
  const limit = 15_000;
  it("keeps a Job with no pod left on a node, or when Nodes cannot be read", () => {
    assert.deepEqual(leftoverJob(undefined, node("Unknown"), now, limit, "15s"), { action: "keep" });
    assert.deepEqual(leftoverJob(pod("Running", "False"), "forbidden", now, limit, "15s"), { action: "keep" });
  });

  it("looks again while the node is Ready: it may still post the pod's phase, or die first", () => {
    assert.deepEqual(leftoverJob(pod("Running", "False"), node("True"), now, limit, "15s"), { action: "recheck", afterMs: LEFTOVER_JOB_POLL_MS });
  });

  it("waits out the bound from when the node was lost, then deletes the Job and says why", () => {
    // Lost at :20, now :30: 5 s of the 15 s bound left.
    assert.deepEqual(leftoverJob(pod("Running", "False"), node("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", "2026-01-01T00:00:20Z"), now, limit, "15s"), { action: "recheck", afterMs: 5_000 });
    const d = leftoverJob(pod("Running", "False"), node("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."), now, limit, "15s");
    assert.equal(d.action, "delete");
    assert.match(d.action === "delete" ? d.message : "", /^the session already has its result, but node node-1, where pod s-backup-abcde runs, is not Ready since .*after 15s \(the operator's --node-lost-limit\) the Job was deleted/);
    // A deleted Node never posts anything again.
    assert.equal(leftoverJob(pod("Running", "False"), undefined, now, limit, "15s").action, "delete");
  });
});
