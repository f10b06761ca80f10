import assert from "node:assert/strict";
import type { V1Job, V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import { pinToNode, placement, podsUsingClaim } from "./placement.ts";

const pvc = (modes: string[]): V1PersistentVolumeClaim => ({ metadata: { name: "data", namespace: "demo" }, spec: { accessModes: modes }, status: { accessModes: modes } });
const pod = (name: string, node: string | undefined, claim: string, extra: Partial<V1Pod["spec"]> = {}, phase = "Running", labels: Record<string, string> = {}): V1Pod => ({
  metadata: { name, labels },
  spec: { containers: [], ...(node ? { nodeName: node } : {}), volumes: [{ name: "v", persistentVolumeClaim: { claimName: claim } }], ...extra },
  status: { phase },
});
const dedicated = { key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" };

describe("Job placement for volumes in use", () => {
  it("finds the pods that hold the claim on a node, not finished ones, pending ones or the Job's own", () => {
    const pods = [
      pod("app", "node-2", "data"),
      pod("other", "node-1", "other"),
      pod("done", "node-1", "data", {}, "Succeeded"),
      pod("unscheduled", undefined, "data", {}, "Pending"),
      pod("mine", "node-1", "data", {}, "Running", { "batch.kubernetes.io/job-name": "s-backup" }),
    ];
    assert.deepEqual(podsUsingClaim(pods, "data", "s-backup").map((p) => p.metadata?.name), ["app"]);
  });

  it("pins to the node of a ReadWriteOnce volume's user, with its tolerations", () => {
    const p = placement(pvc(["ReadWriteOnce"]), [pod("app-1", "node-2", "data", { tolerations: [dedicated, dedicated] })]);
    assert.deepEqual(p, { kind: "node", node: "node-2", users: ["app-1"], tolerations: [dedicated] });
  });

  it("leaves unused volumes, shared access modes and users on several nodes to the scheduler", () => {
    assert.deepEqual(placement(pvc(["ReadWriteOnce"]), []), { kind: "anywhere" });
    assert.deepEqual(placement(pvc(["ReadWriteMany"]), [pod("a", "node-2", "data")]), { kind: "anywhere" });
    assert.deepEqual(placement(pvc(["ReadWriteOnce", "ReadOnlyMany"]), [pod("a", "node-2", "data")]), { kind: "anywhere" });
    assert.deepEqual(placement(pvc(["ReadWriteOnce"]), [pod("a", "node-1", "data"), pod("b", "node-2", "data")]), { kind: "anywhere" });
  });

  it("refuses a ReadWriteOncePod volume a pod holds, naming the pod", () => {
    const p = placement(pvc(["ReadWriteOncePod"]), [pod("postgres-0", "node-1", "data")]);
    assert.equal(p.kind, "refused");
    assert.ok(p.kind === "refused");
    assert.equal(p.problem.reason, "VolumeInUse");
    assert.match(p.problem.message, /PVC demo\/data is ReadWriteOncePod and pod postgres-0 \(node node-1\) holds it/);
    assert.match(p.problem.message, /scale its workload to 0/);
  });

  it("pins by node name, ANDed with every term of the affinity runtimeSettings gave, keeping its own tolerations", () => {
    const job: V1Job = {
      spec: {
        template: {
          spec: {
            containers: [],
            tolerations: [{ key: "spot", operator: "Exists" }],
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [{ matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }, { matchExpressions: [{ key: "zone", operator: "In", values: ["b"] }] }],
                },
              },
              podAntiAffinity: {},
            },
          },
        },
      },
    };
    const out = pinToNode(job, "node-2", [dedicated, { key: "spot", operator: "Exists" }]);
    const spec = out.spec!.template.spec!;
    const byName = { key: "metadata.name", operator: "In", values: ["node-2"] };
    assert.deepEqual(spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms, [
      { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }], matchFields: [byName] },
      { matchExpressions: [{ key: "zone", operator: "In", values: ["b"] }], matchFields: [byName] },
    ]);
    assert.deepEqual(spec.affinity?.podAntiAffinity, {});
    assert.deepEqual(spec.tolerations, [{ key: "spot", operator: "Exists" }, dedicated]);
    assert.equal(job.spec!.template.spec!.tolerations!.length, 1, "the input is left alone");
    const bare = pinToNode({ spec: { template: { spec: { containers: [] } } } }, "node-1", []);
    assert.deepEqual(bare.spec!.template.spec!.affinity, { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: ["node-1"] }] }] } } });
    assert.equal(bare.spec!.template.spec!.tolerations, undefined);
  });
});
