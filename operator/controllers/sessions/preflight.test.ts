import assert from "node:assert/strict";
import type { Repository } from "../../api/repository.ts";
import { checkRepository } from "./preflight.ts";
import type { SessionRuntime } from "./runtime.ts";

const repo = (status: string, reason: string): Repository => ({
  metadata: { name: "r", namespace: "ns" },
  spec: { backend: { storageSecretName: "s", azure: { container: "c" } } },
  status: { conditions: [{ type: "Ready", status, reason, message: "said", lastTransitionTime: "2026-01-01T00:00:00Z" }] },
} as unknown as Repository);
const rt = (r: Repository) => ({ getRepository: async () => r, pvcExists: async () => true, namespaceLabels: async () => ({}) }) as unknown as SessionRuntime;

describe("a session's Repository check", () => {
  it("waits out an Azure outage (the Repository unreachable for now), within the repository wait limit", async () => {
    for (const reason of ["EndpointUnreachable", "BackendError"]) {
      const c = await checkRepository(rt(repo("False", reason)), "ns", { name: "r" }, undefined);
      assert.equal(c.kind, "wait", reason);
      assert.deepEqual(c.kind === "wait" && c.blocker, { reason, message: "said" });
      assert.match(c.kind === "wait" ? c.message : "", /is unreachable for now/);
    }
  });

  it("fails at once on what waiting cannot fix", async () => {
    const c = await checkRepository(rt(repo("False", "WrongPassword")), "ns", { name: "r" }, undefined);
    assert.deepEqual(c, { kind: "fail", reason: "WrongPassword", message: "Repository ns/r is not ready: said" });
  });

  it("goes on with a Ready Repository", async () => {
    const c = await checkRepository(rt(repo("True", "Ready")), "ns", { name: "r" }, undefined);
    assert.equal(c.kind, "ok");
  });
});
