// The Helm chart as a cluster admin meets it: `helm lint` is clean, bad values are refused with a
// message that names them, what it renders is what an operator Deployment must be (leader election,
// probes, non-root, read-only root fs, least-privilege RBAC without wildcards), and every object it
// renders is accepted by the real API server (server-side apply, dry run). In watchNamespaces mode
// its Roles are applied for real and the ServiceAccount may act in the listed namespaces only.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { execa } from "execa";
import { parseAllDocuments } from "yaml";
import { cluster } from "./fixture.ts";
import { applyCrds } from "./cluster/operator.ts";
import { repoRoot, tool } from "./cluster/tools.ts";

const chart = path.join(repoRoot, "charts/blobstash");

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
}

interface Container {
  args?: string[];
  env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

interface Deployment extends K8sObject {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { serviceAccountName: string; securityContext: { runAsNonRoot?: boolean; runAsUser?: number }; containers: Container[] };
    };
  };
}

const helm = (args: string[]) => execa(tool("helm"), args, { reject: false, all: true });

async function render(release: string, namespace: string, values: string[] = [], includeCrds = false): Promise<K8sObject[]> {
  const r = await helm(["template", release, chart, "--namespace", namespace, ...(includeCrds ? ["--include-crds"] : []), ...values]);
  assert.equal(r.exitCode, 0, r.all);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

const ofKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);
const only = <T extends K8sObject>(objs: K8sObject[], kind: string): T => {
  const found = ofKind(objs, kind);
  assert.equal(found.length, 1, `one ${kind} rendered, got ${found.length}`);
  return found[0] as T;
};
const rulesOf = (objs: K8sObject[]) => objs.filter((o) => o.kind === "Role" || o.kind === "ClusterRole").flatMap((o) => (o as unknown as { rules: Rule[] }).rules);

// A ServiceMonitor CRD as small as the chart's object needs (the real one comes with prometheus-operator).
const serviceMonitorCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "servicemonitors.monitoring.coreos.com" },
  spec: {
    group: "monitoring.coreos.com",
    scope: "Namespaced",
    names: { kind: "ServiceMonitor", plural: "servicemonitors", singular: "servicemonitor", listKind: "ServiceMonitorList" },
    versions: [{
      name: "v1",
      served: true,
      storage: true,
      schema: {
        openAPIV3Schema: {
          type: "object",
          properties: {
            spec: {
              type: "object",
              required: ["selector", "endpoints"],
              properties: {
                selector: { type: "object", properties: { matchLabels: { type: "object", additionalProperties: { type: "string" } } } },
                endpoints: {
                  type: "array",
                  items: { type: "object", properties: { port: { type: "string" }, path: { type: "string" }, interval: { type: "string", pattern: "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$" } } },
                },
              },
            },
          },
        },
      },
    }],
  },
};

describe("Helm chart (helm lint, values schema, render, server-side apply to the real API server)", function () {
  this.timeout(120_000);
  const id = randomBytes(3).toString("hex");
  const release = `chart-${id}`;
  const ns = `e2e-chart-${id}`;
  const watched = [`e2e-chart-${id}-a`, `e2e-chart-${id}-b`];
  const unwatched = `e2e-chart-${id}-c`;
  const kubectl = (args: string[], input?: string) =>
    execa(tool("kubectl"), args, { env: { KUBECONFIG: cluster().kubeconfig }, input, reject: false, all: true });
  let serviceMonitorCrdExisted = false;

  before(async function () {
    // kubectl auth can-i resolves stash.appscode.com resources through discovery.
    await applyCrds(cluster());
    for (const n of [ns, ...watched, unwatched]) assert.equal((await kubectl(["create", "namespace", n])).exitCode, 0);
    serviceMonitorCrdExisted = (await kubectl(["get", "crd", serviceMonitorCrd.metadata.name])).exitCode === 0;
    if (!serviceMonitorCrdExisted) {
      const r = await kubectl(["apply", "--server-side", "-f", "-"], JSON.stringify(serviceMonitorCrd));
      assert.equal(r.exitCode, 0, r.all);
      await kubectl(["wait", "--for=condition=Established", "--timeout=30s", `crd/${serviceMonitorCrd.metadata.name}`]);
    }
  });

  after(async function () {
    for (const n of [ns, ...watched, unwatched]) await kubectl(["delete", "namespace", n, "--wait=false"]);
    await kubectl(["delete", "clusterrole,clusterrolebinding", "-l", `app.kubernetes.io/instance=${release}`]);
    if (!serviceMonitorCrdExisted) await kubectl(["delete", "crd", serviceMonitorCrd.metadata.name, "--wait=false"]);
  });

  it("passes helm lint with default values, watchNamespaces and workload identity", async function () {
    for (const values of [[], ["--set", "watchNamespaces={team-a,team-b}"], ["--set", "workloadIdentity.enabled=true", "--set", "workloadIdentity.clientId=00000000-0000-0000-0000-000000000000"], ["--set", "metrics.serviceMonitor.enabled=true"]]) {
      const r = await helm(["lint", chart, ...values]);
      assert.equal(r.exitCode, 0, `helm lint ${values.join(" ")}: ${r.all}`);
      assert.match(r.all, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      assert.doesNotMatch(r.all, /\[(WARNING|ERROR)\]/, `helm lint ${values.join(" ")} is clean`);
    }
  });

  it("refuses bad values with a message that names the value and what is wrong", async function () {
    const cases: [string[], RegExp][] = [
      [["--set", "replicaCount=0"], /at '\/replicaCount': minimum: got 0, want 1/],
      [["--set", "replicas=2"], /additional properties 'replicas' not allowed/],
      [["--set", "operator.logLevel=verbose"], /at '\/operator\/logLevel': value must be one of 'error', 'warn', 'info', 'debug'/],
      [["--set", "operator.revalidatePeriod=soon"], /at '\/operator\/revalidatePeriod': 'soon' does not match pattern/],
      [["--set", "operator.concurrency=0"], /at '\/operator\/concurrency': minimum: got 0, want 1/],
      [["--set", "image.pullPolicy=Sometimes"], /at '\/image\/pullPolicy': value must be one of/],
      [["--set", "watchNamespaces={Team_A}"], /at '\/watchNamespaces\/0': 'Team_A' does not match pattern/],
      [["--set", "metrics.port=70000"], /at '\/metrics\/port': maximum: got 70,000, want 65,535/],
      [["--set", "workloadIdentity.enabled=true"], /workloadIdentity\.clientId is required when workloadIdentity\.enabled/],
    ];
    for (const [values, message] of cases) {
      const r = await helm(["template", release, chart, ...values]);
      assert.notEqual(r.exitCode, 0, `helm template ${values.join(" ")} must fail`);
      assert.match(r.all, message, `helm template ${values.join(" ")}`);
    }
  });

  it("renders a Deployment that elects a leader, probes /healthz and /readyz, and runs as non-root on a read-only root filesystem", async function () {
    const objs = await render(release, ns);
    const d = only<Deployment>(objs, "Deployment");
    const pod = d.spec.template.spec;
    const c = pod.containers[0]!;
    assert.ok(d.spec.replicas >= 2, "more than one replica by default: a standby takes over");
    assert.ok(c.args?.includes("--leader-elect=true"), `args ${c.args?.join(" ")}`);
    // The Lease lives in the release namespace: POD_NAMESPACE is where the operator looks for it.
    assert.equal(c.env?.find((e) => e.name === "POD_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath, "metadata.namespace");
    assert.equal(c.env?.find((e) => e.name === "POD_NAME")?.valueFrom?.fieldRef?.fieldPath, "metadata.name");
    const metricsPort = c.ports?.find((p) => p.name === "metrics");
    assert.ok(metricsPort, "a named metrics port");
    assert.ok(c.args?.includes(`--metrics-address=:${metricsPort.containerPort}`), "the operator serves probes and metrics on that port");
    assert.deepEqual(c.livenessProbe?.httpGet, { path: "/healthz", port: "metrics" });
    assert.deepEqual(c.readinessProbe?.httpGet, { path: "/readyz", port: "metrics" });
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok((pod.securityContext.runAsUser ?? 0) > 0, "a non-zero uid");
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext?.capabilities?.drop, ["ALL"]);
    assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory, "resources set");
    const sa = only(objs, "ServiceAccount");
    assert.equal(pod.serviceAccountName, sa.metadata.name);
    // The metrics Service selects exactly these pods.
    const svc = only(objs, "Service") as K8sObject & { spec: { selector: Record<string, string>; ports: { name: string; targetPort: string }[] } };
    assert.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
    for (const [k, v] of Object.entries(d.spec.selector.matchLabels)) assert.equal(d.spec.template.metadata.labels[k], v);
    assert.equal(svc.spec.ports[0]?.targetPort, "metrics");
    assert.equal(ofKind(objs, "ServiceMonitor").length, 0, "no ServiceMonitor unless enabled");
  });

  it("grants no wildcard; cluster-wide by default, only Roles in the listed namespaces with watchNamespaces", async function () {
    const wide = await render(release, ns);
    const narrow = await render(release, ns, ["--set", `watchNamespaces={${watched.join(",")}}`]);
    for (const r of [...rulesOf(wide), ...rulesOf(narrow)]) {
      for (const field of [r.apiGroups, r.resources, r.verbs]) assert.ok(!field?.includes("*"), `wildcard in ${JSON.stringify(r)}`);
    }
    // The user-facing roles (aggregated into view/edit/admin) grant the operator nothing.
    const operatorRoles = (objs: K8sObject[]) => ofKind(objs, "ClusterRole").filter((o) => !Object.keys(o.metadata.labels ?? {}).some((k) => k.startsWith("rbac.authorization.k8s.io/aggregate-to-")));
    assert.equal(operatorRoles(wide).length, 1);
    assert.equal(ofKind(wide, "ClusterRoleBinding").length, 1);
    // Cluster-wide only: get the watched namespaces themselves (their Pod Security labels), by name,
    // and get on Nodes (a Job pod's node when the pod is marked not Ready); and the user-facing
    // roles, which grant the operator nothing.
    const narrowRules = operatorRoles(narrow).flatMap((r) => (r as unknown as { rules: Array<Rule & { resourceNames?: string[] }> }).rules);
    assert.deepEqual(narrowRules, [
      { apiGroups: [""], resources: ["namespaces"], resourceNames: watched, verbs: ["get"] },
      { apiGroups: [""], resources: ["nodes"], verbs: ["get"] },
    ], "nothing else cluster-wide");
    assert.equal(ofKind(narrow, "ClusterRoleBinding").length, 1);
    assert.deepEqual(ofKind(narrow, "ClusterRole").map((o) => o.metadata.name).sort(), [`${release}-blobstash-edit`, `${release}-blobstash-namespaces`, `${release}-blobstash-view`].sort());
    const roles = ofKind(narrow, "Role").map((r) => r.metadata.namespace).sort();
    // One Role per watched namespace, plus the leader-election Role in the release namespace.
    assert.deepEqual(roles, [...watched, ns].sort());
    const d = only<Deployment>(narrow, "Deployment");
    assert.ok(d.spec.template.spec.containers[0]!.args?.includes(`--watch-namespaces=${watched.join(",")}`));
    const leaderRole = ofKind(narrow, "Role").find((r) => r.metadata.namespace === ns)!;
    assert.deepEqual((leaderRole as unknown as { rules: Rule[] }).rules.find((r) => r.resources?.includes("leases"))?.apiGroups, ["coordination.k8s.io"]);
  });

  it("wires Azure workload identity into the ServiceAccount and the pod when enabled", async function () {
    const clientId = "11111111-2222-3333-4444-555555555555";
    const objs = await render(release, ns, ["--set", "workloadIdentity.enabled=true", "--set", `workloadIdentity.clientId=${clientId}`, "--set", "workloadIdentity.tenantId=tenant-x"]);
    const sa = only(objs, "ServiceAccount");
    assert.equal(sa.metadata.annotations?.["azure.workload.identity/client-id"], clientId);
    assert.equal(sa.metadata.annotations?.["azure.workload.identity/tenant-id"], "tenant-x");
    assert.equal(only<Deployment>(objs, "Deployment").spec.template.metadata.labels["azure.workload.identity/use"], "true");
    const plain = await render(release, ns);
    assert.equal(only<Deployment>(plain, "Deployment").spec.template.metadata.labels["azure.workload.identity/use"], undefined);
  });

  it("renders a ServiceMonitor that scrapes the metrics Service's port", async function () {
    const objs = await render(release, ns, ["--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prometheus"]);
    const sm = only(objs, "ServiceMonitor") as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } };
    const svc = only(objs, "Service");
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels?.[k], v, `the Service carries ${k}=${v}`);
    assert.deepEqual(sm.spec.endpoints.map((e) => [e.port, e.path]), [["metrics", "/metrics"]]);
    assert.equal(sm.metadata.labels?.release, "prometheus");
  });

  it("renders a NetworkPolicy that admits only the monitoring namespaces to the metrics port", async function () {
    const objs = await render(release, ns, ["--set", "metrics.networkPolicy.enabled=true", "--set", "metrics.networkPolicy.namespaceSelector.team=observability"]);
    const np = only(objs, "NetworkPolicy") as K8sObject & { spec: { podSelector: { matchLabels: Record<string, string> }; ingress: Array<{ from: Array<{ namespaceSelector: { matchLabels: Record<string, string> } }>; ports: Array<{ port: string }> }> } };
    const pods = only<Deployment>(objs, "Deployment").spec.template.metadata.labels;
    for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels)) assert.equal(pods[k], v, `selects the operator's pods by ${k}`);
    assert.deepEqual(np.spec.ingress.map((r) => [r.from.map((f) => f.namespaceSelector.matchLabels), r.ports.map((p) => p.port)]), [[[{ "kubernetes.io/metadata.name": "monitoring", team: "observability" }], ["metrics"]]]);
    assert.equal(ofKind(await render(release, ns), "NetworkPolicy").length, 0, "off by default");
  });

  it("has every rendered object (CRDs included) accepted by the API server: default, watchNamespaces, ServiceMonitor, metrics NetworkPolicy", async function () {
    const variants: Record<string, string[]> = {
      default: [],
      watchNamespaces: ["--set", `watchNamespaces={${watched.join(",")}}`],
      serviceMonitor: ["--set", "metrics.serviceMonitor.enabled=true"],
      metricsNetworkPolicy: ["--set", "metrics.networkPolicy.enabled=true"],
    };
    for (const [variant, values] of Object.entries(variants)) {
      const objs = await render(release, ns, values, true);
      assert.ok(ofKind(objs, "CustomResourceDefinition").length >= 4, "the chart ships the CRDs");
      const r = await kubectl(["apply", "--server-side", "--dry-run=server", "--field-manager=blobstash-chart-test", "--force-conflicts", "-f", "-"], objs.map((o) => JSON.stringify(o)).join("\n"));
      assert.equal(r.exitCode, 0, `${variant}: ${r.all}`);
      const applied = r.stdout.split("\n").filter((l) => l.endsWith("serverside-applied (server dry run)"));
      assert.equal(applied.length, objs.length, `${variant}: every object applied:\n${r.all}`);
    }
  });

  it("lets the ServiceAccount act in the watched namespaces only (Roles applied for real)", async function () {
    const objs = await render(release, ns, ["--set", `watchNamespaces={${watched.join(",")}}`, "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"]);
    const applied = await kubectl(["apply", "--server-side", "-f", "-"], objs.map((o) => JSON.stringify(o)).join("\n"));
    assert.equal(applied.exitCode, 0, applied.all);
    const sa = `system:serviceaccount:${ns}:${only(objs, "ServiceAccount").metadata.name}`;
    const can = async (args: string[]) => {
      const r = await kubectl(["auth", "can-i", ...args, "--as", sa]);
      assert.doesNotMatch(r.stderr, /warning/i, `kubectl auth can-i ${args.join(" ")}`);
      return r.stdout.trim();
    };
    for (const n of watched) {
      assert.equal(await can(["patch", "repositories.stash.appscode.com", "--subresource=status", "-n", n]), "yes");
      assert.equal(await can(["update", "repositories.stash.appscode.com", "--subresource=status", "-n", n]), "no", "status is only merge-patched");
      assert.equal(await can(["create", "jobs.batch", "-n", n]), "yes");
      assert.equal(await can(["create", "secrets", "-n", n]), "yes");
    }
    assert.equal(await can(["list", "repositories.stash.appscode.com", "-n", unwatched]), "no");
    assert.equal(await can(["get", "secrets", "-n", unwatched]), "no");
    assert.equal(await can(["list", "secrets", "--all-namespaces"]), "no");
    assert.equal(await can(["update", "leases.coordination.k8s.io", "-n", ns]), "yes");
    assert.equal(await can(["update", "leases.coordination.k8s.io", "-n", watched[0]!]), "no");
    // Never more than it needs in a watched namespace either.
    assert.equal(await can(["delete", "repositories.stash.appscode.com", "-n", watched[0]!]), "no");
    assert.equal(await can(["create", "pods", "-n", watched[0]!]), "no");
    for (const denied of [["patch", "events"], ["update", "backupsessions.stash.appscode.com"], ["patch", "backupconfigurations.stash.appscode.com"], ["get", "pods"]]) {
      assert.equal(await can([...denied, "-n", watched[0]!]), "no", `may not ${denied.join(" ")}`);
    }
    assert.equal(await can(["update", "backupconfigurations.stash.appscode.com", "--subresource=finalizers", "-n", watched[0]!]), "yes", "owning sessions where owner references are enforced");
    // A cluster-scoped resource by name (kubectl warns that namespaces are not namespaced; the answer is what counts).
    const canGetNamespace = async (name: string) => {
      const r = await kubectl(["auth", "can-i", "get", `namespaces/${name}`, "--as", sa]);
      return `${r.stdout.trim()}${r.stdout.trim() ? "" : ` (stderr: ${r.stderr})`}`;
    };
    assert.equal(await canGetNamespace(watched[0]!), "yes", "a watched namespace's Pod Security labels");
    assert.equal(await canGetNamespace(unwatched), "no");
  });

  it("lets the ServiceAccount act in every namespace by default, and no more than it needs (ClusterRole applied for real)", async function () {
    const objs = await render(release, ns, ["--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"]);
    const applied = await kubectl(["apply", "--server-side", "-f", "-"], objs.map((o) => JSON.stringify(o)).join("\n"));
    assert.equal(applied.exitCode, 0, applied.all);
    const sa = `system:serviceaccount:${ns}:${only(objs, "ServiceAccount").metadata.name}`;
    const can = async (args: string[]) => (await kubectl(["auth", "can-i", ...args, "--as", sa])).stdout.trim();
    assert.equal(await can(["watch", "repositories.stash.appscode.com", "--all-namespaces"]), "yes");
    assert.equal(await can(["patch", "backupsessions.stash.appscode.com", "--subresource=status", "-n", unwatched]), "yes");
    assert.equal(await can(["get", "namespaces"]), "yes", "usagePolicy Selector reads the session namespace's labels");
    for (const denied of [["list", "namespaces"], ["create", "pods", "-n", unwatched], ["delete", "repositories.stash.appscode.com", "-n", unwatched], ["update", "secrets", "-n", unwatched], ["create", "clusterroles.rbac.authorization.k8s.io"]]) {
      assert.equal(await can(denied), "no", `may not ${denied.join(" ")}`);
    }
  });
});
