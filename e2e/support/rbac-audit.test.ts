import assert from "node:assert/strict";
import { grantsOf, permission, pluralOf, usageOf } from "./rbac-audit.ts";

const OPERATOR = "system:serviceaccount:ops:blobstash";
const isOperator = (user: string, agent: string) => user === OPERATOR && agent.startsWith("blobstash-operator");
const event = (o: Record<string, unknown>) => JSON.stringify({ stage: "ResponseComplete", user: { username: OPERATOR }, userAgent: "blobstash-operator", responseStatus: { code: 200 }, ...o });

describe("e2e/support/rbac-audit: permissions used in a run against those granted", () => {
  it("counts the operator's completed requests by group, resource, subresource and verb", () => {
    const lines = [
      event({ verb: "watch", objectRef: { apiGroup: "batch", resource: "jobs" } }),
      event({ verb: "watch", stage: "ResponseStarted", objectRef: { apiGroup: "batch", resource: "jobs" } }),
      event({ verb: "patch", objectRef: { apiGroup: "stash.appscode.com", resource: "repositories", subresource: "status" } }),
      event({ verb: "patch", objectRef: { apiGroup: "stash.appscode.com", resource: "repositories", subresource: "status" } }),
      event({ verb: "get", objectRef: { resource: "namespaces" }, responseStatus: { code: 403 } }),
      event({ verb: "get", objectRef: { resource: "secrets" }, userAgent: "kubectl/v1.34" }),
      event({ verb: "get", objectRef: { resource: "secrets" }, impersonatedUser: { username: OPERATOR } }),
      event({ verb: "get", objectRef: { resource: "pods" }, user: { username: "system:serviceaccount:t:tenant" } }),
      event({ verb: "get" }),
      "not json",
      "",
    ];
    const u = usageOf(lines, isOperator);
    assert.deepEqual([...u.used], [
      [permission("batch", "jobs", "watch"), 1],
      [permission("stash.appscode.com", "repositories/status", "patch"), 2],
    ]);
    assert.deepEqual([...u.denied], [[permission("", "namespaces", "get"), 1]]);
  });

  it("counts update on the owner's finalizers for a create that blocks its owner's deletion", () => {
    const owned = (kind: string, apiVersion: string, blockOwnerDeletion: boolean) =>
      event({ verb: "create", objectRef: { apiGroup: "batch", resource: "jobs" }, requestObject: { metadata: { ownerReferences: [{ apiVersion, kind, blockOwnerDeletion, controller: true }] } } });
    const u = usageOf([owned("BackupSession", "stash.appscode.com/v1beta1", true), owned("Repository", "stash.appscode.com/v1alpha1", true), owned("RestoreSession", "stash.appscode.com/v1beta1", false)], isOperator);
    assert.equal(u.used.get(permission("batch", "jobs", "create")), 3);
    assert.equal(u.used.get(permission("stash.appscode.com", "backupsessions/finalizers", "update")), 1);
    assert.equal(u.used.get(permission("stash.appscode.com", "repositories/finalizers", "update")), 1);
    assert.equal(u.used.get(permission("stash.appscode.com", "restoresessions/finalizers", "update")), undefined);
    assert.equal(pluralOf("BackupConfiguration"), "backupconfigurations");
  });

  it("expands the rules of the roles bound to the ServiceAccount, and only those", () => {
    const sa = { name: "blobstash", namespace: "ops" };
    const manifests = [
      { kind: "ClusterRole", metadata: { name: "blobstash" }, rules: [{ apiGroups: ["", "batch"], resources: ["jobs"], verbs: ["get", "create"] }] },
      { kind: "ClusterRoleBinding", metadata: { name: "blobstash" }, roleRef: { kind: "ClusterRole", name: "blobstash" }, subjects: [{ kind: "ServiceAccount", ...sa }] },
      { kind: "Role", metadata: { name: "leader", namespace: "ops" }, rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["update"] }] },
      { kind: "RoleBinding", metadata: { name: "leader", namespace: "ops" }, roleRef: { kind: "Role", name: "leader" }, subjects: [{ kind: "ServiceAccount", ...sa }] },
      { kind: "ClusterRole", metadata: { name: "blobstash-view" }, rules: [{ apiGroups: ["x"], resources: ["y"], verbs: ["list"] }] },
    ];
    const g = grantsOf(manifests, sa);
    assert.deepEqual([...g.keys()].sort(), [permission("", "jobs", "create"), permission("", "jobs", "get"), permission("batch", "jobs", "create"), permission("batch", "jobs", "get"), permission("coordination.k8s.io", "leases", "update")]);
    assert.deepEqual(g.get(permission("coordination.k8s.io", "leases", "update")), ["Role leader"]);
    assert.throws(() => grantsOf([manifests[1]!], sa), /refers to ClusterRole\/\/blobstash, which the chart does not render/);
    assert.throws(() => grantsOf([{ ...manifests[0]!, rules: [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }] }, manifests[1]!], sa), /non-resource URLs/);
  });
});
