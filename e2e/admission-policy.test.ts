// The chart's ValidatingAdmissionPolicy, against the real API server: impersonating the operator's
// ServiceAccount (which RBAC lets create Jobs and Secrets), every object the operator never makes is
// refused, and the Job the operator's own builder makes is admitted. Server-side dry runs: admission
// runs in full, nothing is stored.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { V1Job } from "@kubernetes/client-node";
import { execa } from "execa";
import { buildBackupJob } from "../operator/controllers/backupsession/job.ts";
import { cluster } from "./fixture.ts";
import { applyCrds, installOperator, type OperatorHandle } from "./cluster/operator.ts";
import { waitFor } from "./cluster/wait.ts";

const id = randomBytes(3).toString("hex");
const ns = `e2e-vap-${id}`;
const opNs = `${ns}-operator`;
const release = `vap-${id}`;

describe("the chart's admission policy: the operator's ServiceAccount creates only what the operator makes", function () {
  this.timeout(240_000);
  let op: OperatorHandle;
  let sa: string;
  let image: string;
  let good: V1Job;

  /** A server-side dry-run create as the operator's ServiceAccount: "" when admitted, else the refusal. */
  const createAs = async (obj: unknown): Promise<string> => {
    const r = await execa("kubectl", ["--as", sa, "-n", ns, "create", "--dry-run=server", "-f", "-"], {
      env: { ...process.env, KUBECONFIG: cluster().kubeconfig },
      input: JSON.stringify(obj),
      reject: false,
    });
    return r.exitCode === 0 ? "" : r.stderr.trim();
  };
  const variant = (change: (job: V1Job) => void): V1Job => {
    const job = structuredClone(good);
    change(job);
    return job;
  };
  const pod = (job: V1Job) => job.spec!.template.spec!;
  const secret = (over: Record<string, unknown> = {}) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "s-backup-credentials", namespace: ns, labels: { "app.kubernetes.io/managed-by": "blobstash" }, ownerReferences: good.metadata!.ownerReferences },
    type: "Opaque",
    stringData: { RESTIC_PASSWORD: "x" },
    ...over,
  });

  before(async function () {
    await applyCrds(cluster());
    await execa("kubectl", ["create", "namespace", ns], { env: { ...process.env, KUBECONFIG: cluster().kubeconfig } });
    op = await installOperator(cluster(), { release, namespace: opNs, values: { replicaCount: 1, watchNamespaces: [ns] } });
    sa = `system:serviceaccount:${opNs}:${op.fullname}`;
    image = cluster().images.blobstash;
    const built = buildBackupJob({
      session: { metadata: { name: "s", namespace: ns, uid: "00000000-0000-0000-0000-00000000000a" }, spec: { invoker: { apiGroup: "stash.appscode.com", kind: "BackupConfiguration", name: "c" } } },
      config: { metadata: { name: "c", namespace: ns }, spec: { repository: { name: "r" }, target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data" } }, timeOut: "10m" } },
      repository: { metadata: { name: "r", namespace: ns }, spec: { backend: { storageSecretName: "x", azure: { container: "c", prefix: "/p" } } } },
      credentialsSecretName: "s-backup-credentials",
      image,
      options: { extraCa: false },
      createdAt: new Date(),
    });
    assert.ok(built.ok);
    good = built.job;
    // The policy is enforced once the API server has loaded it: the first refusal says so.
    await waitFor("the admission policy to be in force", async () => (await createAs(variant((j) => (pod(j).hostNetwork = true)))).includes("ValidatingAdmissionPolicy"), { timeoutMs: 30_000, intervalMs: 500 });
  });

  after(async function () {
    await op?.stop().catch(() => undefined);
    for (const n of [ns, opNs]) await execa("kubectl", ["delete", "namespace", n, "--wait=false"], { env: { ...process.env, KUBECONFIG: cluster().kubeconfig }, reject: false });
  });

  it("admits the Job the operator's builder makes and its credentials Secret", async function () {
    assert.equal(await createAs(good), "");
    assert.equal(await createAs(secret()), "");
  });

  it("refuses every Job and Secret the operator never makes", async function () {
    const cases: Array<[string, unknown, RegExp]> = [
      ["a privileged container", variant((j) => (pod(j).containers[0]!.securityContext = { privileged: true })), /no privileged container/],
      ["privilege escalation", variant((j) => (pod(j).containers[0]!.securityContext!.allowPrivilegeEscalation = true)), /no privilege escalation/],
      ["a hostPath volume", variant((j) => pod(j).volumes!.push({ name: "host", hostPath: { path: "/" } })), /no hostPath volume/],
      ["the host's network", variant((j) => (pod(j).hostNetwork = true)), /share no host namespace/],
      ["SYS_ADMIN added", variant((j) => (pod(j).containers[0]!.securityContext!.capabilities = { drop: ["ALL"], add: ["SYS_ADMIN"] })), /add no capability beyond/],
      ["another image", variant((j) => (pod(j).containers[0]!.image = "docker.io/library/busybox:latest")), /run only its own image/],
      ["an init container of its own image", variant((j) => (pod(j).initContainers = [{ name: "i", image }])), /in one kind of container/],
      ["a service account token", variant((j) => (pod(j).automountServiceAccountToken = true)), /no service account token/],
      ["another service account", variant((j) => (pod(j).serviceAccountName = "builder")), /no service account of their own/],
      ["no owner", variant((j) => (j.metadata!.ownerReferences = [])), /controlled by one of its Stash objects/],
      ["a foreign owner", variant((j) => (j.metadata!.ownerReferences = [{ apiVersion: "apps/v1", kind: "Deployment", name: "d", uid: "u", controller: true }])), /controlled by one of its Stash objects/],
      ["no managed-by label", variant((j) => delete j.metadata!.labels!["app.kubernetes.io/managed-by"]), /labelled app\.kubernetes\.io\/managed-by=blobstash/],
      ["a service account token Secret", secret({ type: "kubernetes.io/service-account-token", metadata: { ...secret().metadata, annotations: { "kubernetes.io/service-account.name": "default" } } }), /only Opaque Secrets/],
      ["a docker config Secret", secret({ type: "kubernetes.io/dockerconfigjson", stringData: { ".dockerconfigjson": "{}" } }), /only Opaque Secrets/],
      ["an unlabelled Secret", secret({ metadata: { name: "x", namespace: ns, ownerReferences: good.metadata!.ownerReferences } }), /labelled app\.kubernetes\.io\/managed-by=blobstash/],
    ];
    const rows: string[] = [];
    for (const [what, obj, expected] of cases) {
      const refusal = await createAs(obj);
      rows.push(`      ${what.padEnd(36)} ${refusal ? "refused" : "ADMITTED"}`);
      assert.match(refusal, /ValidatingAdmissionPolicy/, `${what}: ${refusal || "admitted"}`);
      assert.match(refusal, expected, what);
    }
    console.log(`\n${rows.join("\n")}\n      ${cases.length} of ${cases.length} refused by the API server\n`);
  });

  it("binds no one but the operator: a cluster admin still creates such a Job", async function () {
    const r = await execa("kubectl", ["-n", ns, "create", "--dry-run=server", "-f", "-"], {
      env: { ...process.env, KUBECONFIG: cluster().kubeconfig },
      input: JSON.stringify(variant((j) => (pod(j).containers[0]!.image = "docker.io/library/busybox:latest"))),
      reject: false,
    });
    assert.equal(r.exitCode, 0, r.stderr);
  });
});
