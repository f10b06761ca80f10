import assert from "node:assert/strict";
import { deadlineSeconds, jobName, jobSecretKeys, jobSecretName, repositoryArgs } from "./pod.ts";

describe("Job pieces", () => {
  it("lists the per-Job Secret's keys: the password and a SAS, never an account key", () => {
    assert.deepEqual([...jobSecretKeys()], ["RESTIC_PASSWORD", "AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_SAS", "AZURE_ENDPOINT_SUFFIX"]);
    assert.equal(jobSecretName("nightly-1-backup"), "nightly-1-backup-credentials");
  });

  it("reads timeOut as a Go duration", () => {
    assert.equal(deadlineSeconds(undefined), undefined);
    assert.equal(deadlineSeconds("30m"), 1800);
    assert.equal(deadlineSeconds("1h30m"), 5400);
    assert.equal(deadlineSeconds("90s"), 90);
    assert.equal(deadlineSeconds("1.5h"), 5400);
    assert.equal(deadlineSeconds("2500ms"), 3);
    assert.equal(deadlineSeconds("500ms"), undefined);
    assert.equal(deadlineSeconds("soon"), undefined);
  });

  it("builds restic's repository string from the Azure spec", () => {
    assert.deepEqual(repositoryArgs({ spec: { backend: { azure: { container: "c", prefix: "/a/b/" } } } }), ["--repo", "azure:c:/a/b", "--option", "azure.connections=5"]);
    assert.deepEqual(repositoryArgs({ spec: { backend: { azure: { container: "c" } } } }), ["--repo", "azure:c:/", "--option", "azure.connections=5"]);
    assert.equal(repositoryArgs({ spec: { backend: { gcs: {} } } }), undefined);
  });

  it("keeps job names valid DNS labels", () => {
    for (const name of ["x", "a".repeat(63), "a".repeat(253), "UPPER.dots.name", "ends-with-dash-"]) {
      const n = jobName(name, "restore");
      assert.ok(n.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n), n);
    }
  });
});
