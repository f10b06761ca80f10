import assert from "node:assert/strict";
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { jobOutcome } from "./outcome.ts";
import { serializeJobResult, type JobResult } from "../../api/result.ts";

const job = (conditions: Array<{ type: string; reason?: string; message?: string }>): V1Job => ({
  status: { conditions: conditions.map((c) => ({ status: "True", lastTransitionTime: new Date("2026-01-01T00:01:00Z"), ...c })) },
});
const pod = (message: string | undefined, exitCode = 0): V1Pod => ({
  metadata: { creationTimestamp: new Date("2026-01-01T00:00:00Z") },
  status: { containerStatuses: [{ name: "restic", image: "x", imageID: "", ready: false, restartCount: 0, state: { terminated: { exitCode, message } } }] },
});
const result = (over: Partial<JobResult>): JobResult => ({
  version: 1,
  action: "backup",
  outcome: "Succeeded",
  reason: "Succeeded",
  startTime: "2026-01-01T00:00:00Z",
  endTime: "2026-01-01T00:01:00Z",
  ...over,
});

describe("jobOutcome", () => {
  it("is running while the Job has no terminal condition and no pod has exited with a result", () => {
    assert.equal(jobOutcome(job([]), []).state, "running");
    assert.equal(jobOutcome(job([]), [pod("")]).state, "running", "exited without a result: the Job's verdict decides");
  });

  it("is finished as soon as the pod exited with the wrapper's result, before the Job controller marks the Job", () => {
    const exited = pod(serializeJobResult(result({ outcome: "Failed", reason: "WrongPassword", message: "wrong password" })), 1);
    exited.status!.containerStatuses![0]!.state!.terminated!.finishedAt = new Date("2026-01-01T00:00:59Z");
    const o = jobOutcome(job([]), [exited]);
    assert.deepEqual(o.state === "finished" && [o.succeeded, o.reason, o.finishedAt?.toISOString()], [false, "WrongPassword", "2026-01-01T00:00:59.000Z"]);
  });

  it("takes the wrapper's result when there is one", () => {
    const o = jobOutcome(job([{ type: "Complete" }]), [pod(serializeJobResult(result({ snapshot: { id: "0123abcd" } })))]);
    assert.equal(o.state, "finished");
    assert.ok(o.state === "finished" && o.succeeded && o.result?.snapshot?.id === "0123abcd");
  });

  it("fails with the wrapper's reason", () => {
    const text = serializeJobResult(result({ outcome: "Failed", reason: "WrongPassword", message: "wrong password" }));
    const o = jobOutcome(job([{ type: "Failed", reason: "BackoffLimitExceeded" }]), [pod(text, 1)]);
    assert.deepEqual(o.state === "finished" && [o.succeeded, o.reason, o.message], [false, "WrongPassword", "wrong password"]);
  });

  it("counts a partial backup as done, keeping the reason", () => {
    const o = jobOutcome(job([{ type: "Complete" }]), [pod(serializeJobResult(result({ outcome: "Partial", reason: "PartialBackup" })), 3)]);
    assert.ok(o.state === "finished" && o.succeeded && o.partial && o.reason === "PartialBackup");
  });

  it("reports a deadline as Timeout when the wrapper wrote nothing", () => {
    const o = jobOutcome(job([{ type: "Failed", reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" }]), []);
    assert.ok(o.state === "finished" && !o.succeeded && o.reason === "Timeout");
  });

  it("says so when a Job completed without a result", () => {
    const o = jobOutcome(job([{ type: "Complete" }]), [pod("")]);
    assert.ok(o.state === "finished" && !o.succeeded && o.reason === "ResultMissing");
  });

  it("quotes the end of the log when the wrapper crashed", () => {
    const o = jobOutcome(job([{ type: "Failed", reason: "BackoffLimitExceeded" }]), [pod("line1\nFATAL: boom", 2)]);
    assert.ok(o.state === "finished" && o.reason === "JobFailed" && /exit code 2/.test(o.message) && /boom/.test(o.message), JSON.stringify(o));
  });

  describe("pods ended by the kernel, the kubelet or a controller", () => {
    const failedJob = (): V1Job => ({
      ...job([{ type: "Failed", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" }]),
      spec: { template: { spec: { containers: [{ name: "restic", resources: { limits: { memory: "64Mi" } } }] } } },
    });

    it("says OutOfMemory with the limit when the container was OOM-killed, not JobFailed", () => {
      const killed = pod(undefined, 137);
      killed.status!.containerStatuses![0]!.state!.terminated!.reason = "OOMKilled";
      const o = jobOutcome(failedJob(), [killed]);
      assert.ok(o.state === "finished" && !o.succeeded);
      assert.equal(o.state === "finished" && o.reason, "OutOfMemory");
      assert.match(o.state === "finished" ? o.message : "", /memory limit \(64Mi\) \(exit code 137\): raise runtimeSettings\.container\.resources\.limits\.memory/);
    });

    it("says Evicted with the kubelet's message, also over the wrapper's own Interrupted result", () => {
      const evicted = pod(serializeJobResult(result({ outcome: "Failed", reason: "Interrupted", message: "stopped by a termination signal" })), 1);
      evicted.metadata!.name = "s-backup-x";
      evicted.status!.phase = "Failed";
      evicted.status!.reason = "Evicted";
      evicted.status!.message = "Pod ephemeral local storage usage exceeds the total limit of containers 10Mi.";
      const o = jobOutcome(failedJob(), [evicted]);
      assert.deepEqual(o.state === "finished" && [o.reason, o.message], ["Evicted", "the kubelet evicted pod s-backup-x: Pod ephemeral local storage usage exceeds the total limit of containers 10Mi."]);
      // Before the Job controller's verdict too.
      const early = jobOutcome(job([]), [evicted]);
      assert.equal(early.state === "finished" && early.reason, "Evicted");
    });

    it("says NodeLost when the taint manager deleted the pod of a node gone", () => {
      const lost = pod(undefined, 137);
      lost.spec = { containers: [], nodeName: "node-2" };
      lost.status!.conditions = [{ type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager", message: "Taint manager: deleting due to NoExecute taint" }];
      const o = jobOutcome(failedJob(), [lost]);
      assert.equal(o.state === "finished" && o.reason, "NodeLost");
      assert.match(o.state === "finished" ? o.message : "", /on node node-2: Taint manager/);
    });
  });
});
