// The local cluster's API server is the real thing: CRUD, watch, and RBAC decisions on ServiceAccount tokens.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  ApiException, AuthenticationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api, Watch, type V1ConfigMap,
} from "@kubernetes/client-node";
import { cluster } from "./fixture.ts";

function adminConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster().kubeconfig);
  return kc;
}

/** A KubeConfig that authenticates with a bearer token against the same API server, trusting the same CA. */
function tokenConfig(token: string): KubeConfig {
  const admin = adminConfig();
  const current = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "local", server: current.server, caData: current.caData }],
    users: [{ name: "sa", token }],
    contexts: [{ name: "sa", cluster: "local", user: "sa" }],
    currentContext: "sa",
  });
  return kc;
}

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

describe("local cluster: kube-apiserver", function () {
  const ns = `e2e-api-${randomBytes(3).toString("hex")}`;
  let core: CoreV1Api;

  before(async function () {
    core = adminConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  after(async function () {
    await core.deleteNamespace({ name: ns });
  });

  it("creates, reads, updates, lists and deletes a ConfigMap", async function () {
    const created = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "crud" }, data: { a: "1" } } });
    assert.ok(created.metadata?.uid, "the server assigned a uid");
    assert.equal((await core.readNamespacedConfigMap({ name: "crud", namespace: ns })).data?.a, "1");

    const replaced = await core.replaceNamespacedConfigMap({ name: "crud", namespace: ns, body: { ...created, data: { a: "2" } } });
    assert.notEqual(replaced.metadata?.resourceVersion, created.metadata?.resourceVersion);
    // A write based on a stale resourceVersion is a conflict: optimistic concurrency is enforced.
    assert.equal(await statusOf(core.replaceNamespacedConfigMap({ name: "crud", namespace: ns, body: { ...created, data: { a: "3" } } })), 409);

    const list = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: "" });
    assert.deepEqual(list.items.filter((c) => c.metadata?.name === "crud").map((c) => c.data), [{ a: "2" }]);

    await core.deleteNamespacedConfigMap({ name: "crud", namespace: ns });
    assert.equal(await statusOf(core.readNamespacedConfigMap({ name: "crud", namespace: ns })), 404);
  });

  it("delivers watch events for changes made after the watch started", async function () {
    const seen: string[] = [];
    let onModified!: (cm: V1ConfigMap) => void;
    let onDone!: (err: unknown) => void;
    const modified = new Promise<V1ConfigMap>((resolve, reject) => {
      onModified = resolve;
      onDone = (err) => reject(err instanceof Error ? err : new Error(`watch ended early: ${String(err)}`));
    });
    // watch() resolves once the server has answered the request, i.e. the watch is established.
    const controller = await new Watch(adminConfig()).watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { fieldSelector: "metadata.name=watched" },
      (phase: string, obj: V1ConfigMap) => {
        seen.push(phase);
        if (phase === "MODIFIED") onModified(obj);
      },
      (err: unknown) => onDone(err),
    );
    try {
      const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "watched" }, data: { v: "0" } } });
      await core.replaceNamespacedConfigMap({ name: "watched", namespace: ns, body: { ...cm, data: { v: "1" } } });
      const obj = await modified;
      assert.equal(obj.data?.v, "1");
      assert.deepEqual(seen, ["ADDED", "MODIFIED"]);
    } finally {
      controller.abort();
    }
  });

  it("authenticates a TokenRequest token for a ServiceAccount, and RBAC denies it until a Role allows it", async function () {
    const sa = "unprivileged";
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
    const tr = await core.createNamespacedServiceAccountToken({ name: sa, namespace: ns, body: { spec: { audiences: [], expirationSeconds: 600 } } });
    const token = tr.status?.token;
    assert.ok(token, "TokenRequest returned a token");
    const asSa = tokenConfig(token);

    // Authentication works: the server knows who this is (so a 403 below is RBAC, not "who are you").
    const review = await asSa.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    assert.equal(review.status?.userInfo?.username, `system:serviceaccount:${ns}:${sa}`);

    const saCore = asSa.makeApiClient(CoreV1Api);
    assert.equal(await statusOf(saCore.listNamespacedSecret({ namespace: ns })), 403);
    assert.equal(await statusOf(saCore.listNamespace()), 403);

    const rbac = adminConfig().makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: "read-secrets" }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["list"] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "read-secrets" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-secrets" },
        subjects: [{ kind: "ServiceAccount", name: sa, namespace: ns }],
      },
    });
    // RBAC's authorizer reads roles from an informer: the grant takes effect within moments, not instantly.
    const deadline = Date.now() + 10_000;
    let status = 0;
    while ((status = await statusOf(saCore.listNamespacedSecret({ namespace: ns }))) !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200, "the Role grants list on secrets");
    assert.equal(await statusOf(saCore.listNamespacedConfigMap({ namespace: ns })), 403, "and nothing else");
  });

  it("runs the controllers the operator relies on (service accounts and root CA per namespace)", async function () {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const hasSa = (await statusOf(core.readNamespacedServiceAccount({ name: "default", namespace: ns }))) === 200;
      const hasCa = (await statusOf(core.readNamespacedConfigMap({ name: "kube-root-ca.crt", namespace: ns }))) === 200;
      if (hasSa && hasCa) break;
      assert.ok(Date.now() < deadline, `namespace ${ns}: default ServiceAccount ${hasSa}, kube-root-ca.crt ${hasCa}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
