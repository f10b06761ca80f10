// What an operator admin watches: after a real backup and restore (examples/ applied into a namespace
// of this test, the operator installed by Helm), /metrics, scraped through the chart's metrics
// Service, carries every series the README documents
// with this run's values, the probes answer, and no secret value (restic password, account key, a SAS
// or its signature, including the SAS the operator minted for the Jobs) shows up in the operator's log,
// in Kubernetes events, in the Job pods' logs or in the metrics.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential, BlobServiceClient } from "@azure/storage-blob";
import { CoreV1Api, CustomObjectsApi, KubeConfig, Watch, type V1Secret } from "@kubernetes/client-node";
import { execa } from "execa";
import { cluster } from "./fixture.ts";
import { podLogFiles } from "./cluster/node-logs.ts";
import { applyCrds, installOperator, type OperatorHandle } from "./cluster/operator.ts";
import { repoRoot, tool } from "./cluster/tools.ts";
import { waitFor } from "./cluster/wait.ts";
import { BACKUP_EXAMPLES, exampleNames, PVC_EXAMPLES, RESTORE_EXAMPLES, retargeted, toYaml } from "./demo/examples.ts";
import { follow, sessionSucceeded, trackedKey, type Tracked } from "./demo/follow.ts";
import { sampleTree } from "./demo/sample.ts";
import { readTree, writeTree } from "./support/toolbox.ts";
import { diffTrees } from "./support/tree.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, samples only. */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The one sample of name whose labels include `labels`; fails listing what exists. */
function sample(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  const all = samples.filter((s) => s.name === name).map((s) => JSON.stringify(s.labels));
  assert.equal(found.length, 1, `one ${name}${JSON.stringify(labels)} expected; the operator exports: ${all.join(", ") || "none"}`);
  return found[0]!.value;
}

/** Series names in the README's metrics table (rows starting with | `blobstash_...`). */
function documentedSeries(): string[] {
  const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");
  return [...readme.matchAll(/^\| `(blobstash_\w+)(?:\{[^`]*\})?`/gm)].map((m) => m[1]!);
}

describe("metrics, probes and secret hygiene after a backup and a restore", function () {
  this.timeout(300_000);
  const id = randomBytes(3).toString("hex");
  const ns = `e2e-metrics-${id}`;
  const container = `metrics-${id}`;
  const names = exampleNames();
  const password = `pw-${randomBytes(12).toString("base64url")}`;
  const sasPassword = `pw-${randomBytes(12).toString("base64url")}`;
  /** Every secret value seen: given to the operator, or minted by it into per-Job Secrets. */
  const secrets = new Set<string>();
  let op: OperatorHandle;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let stopWatch: (() => void) | undefined;
  let work: string;
  let backupStarted = 0;
  let metrics: Sample[] = [];

  const kubectl = async (args: string[], opts: { input?: string; cwd?: string } = {}) => {
    const r = await execa(tool("kubectl"), args, { env: { KUBECONFIG: cluster().kubeconfig }, reject: false, ...opts });
    assert.equal(r.exitCode, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  /** A secret and the forms it takes in URLs and JSON, all of which must stay out of logs. */
  const addSecret = (value: string) => {
    for (const v of [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]) secrets.add(v);
  };

  const addSas = (sas: string) => {
    addSecret(sas);
    addSecret(new URLSearchParams(sas).get("sig")!);
  };

  before(async function () {
    const c = cluster();
    const az = c.azurite;
    const kc = new KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
    work = await mkdtemp(path.join(os.tmpdir(), "blobstash-metrics-"));
    await applyCrds(c);
    await kubectl(["create", "namespace", ns]);
    await new BlobServiceClient(`https://${az.account}.blob.${az.endpointSuffix}`, new StorageSharedKeyCredential(az.account, az.key)).getContainerClient(container).create();

    // Every Secret the operator makes for a Job holds a SAS it minted: collect them as they appear.
    const watch = new Watch(kc);
    const req = await watch.watch(`/api/v1/namespaces/${ns}/secrets`, {}, (_type: string, s: V1Secret) => {
      const sas = s.data?.AZURE_ACCOUNT_SAS;
      if (sas) addSas(Buffer.from(sas, "base64").toString());
    }, () => undefined);
    stopWatch = () => req.abort();

    addSecret(password);
    addSecret(sasPassword);
    addSecret(az.key);
    const files = path.join(work, "secret");
    mkdirSync(files);
    for (const [k, v] of Object.entries({ RESTIC_PASSWORD: password, AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key })) await writeFile(path.join(files, k), v);
    await kubectl(["create", "secret", "generic", "-n", ns, names.secret, "--from-file=./RESTIC_PASSWORD", "--from-file=./AZURE_ACCOUNT_NAME", "--from-file=./AZURE_ACCOUNT_KEY"], { cwd: files });
    // A second Repository in SAS mode, so a user-given SAS is among the values that must never leak.
    const userSas = generateBlobSASQueryParameters(
      { containerName: container, permissions: ContainerSASPermissions.parse("racwdl"), startsOn: new Date(Date.now() - 60_000), expiresOn: new Date(Date.now() + 30 * 86400_000) },
      new StorageSharedKeyCredential(az.account, az.key),
    ).toString();
    addSas(userSas);
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "sas-secret" }, stringData: { RESTIC_PASSWORD: sasPassword, AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_SAS: userSas } } });

    op = await installOperator(c, { release: `metrics-${id}`, namespace: `${ns}-operator`, values: { replicaCount: 1, watchNamespaces: [ns] } });

    await kubectl(["apply", "-f", "-"], { input: toYaml(retargeted(PVC_EXAMPLES, { namespace: ns })) });
    for (const pvc of [names.sourcePvc, names.restorePvc]) {
      await waitFor(`PVC ${pvc} bound`, async () => (await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: pvc })).status?.phase === "Bound", { timeoutMs: 60_000, intervalMs: 200 });
    }
    await writeTree(core, ns, names.sourcePvc, sampleTree());
    const source = await readTree(core, ns, names.sourcePvc);
    const sasRepository = {
      apiVersion: "stash.appscode.com/v1alpha1",
      kind: "Repository",
      metadata: { name: "sas-repo", namespace: ns },
      spec: { backend: { storageSecretName: "sas-secret", azure: { container, prefix: "/sas" } } },
    };
    backupStarted = Date.now();
    await kubectl(["apply", "-f", "-"], { input: `${toYaml(retargeted(BACKUP_EXAMPLES, { namespace: ns, container, prefix: `/metrics-${id}` }))}---\n${JSON.stringify(sasRepository)}\n` });
    const repo: Tracked = { kind: "Repository", name: names.repository };
    const sasRepo: Tracked = { kind: "Repository", name: "sas-repo" };
    const backup: Tracked = { kind: "BackupSession", name: names.backupSession };
    const backupDone = sessionSucceeded(backup);
    const readyReason = (o: Map<string, { status?: { conditions?: { type: string; reason: string }[] } } | undefined>, t: Tracked) =>
      o.get(trackedKey(t))?.status?.conditions?.find((x) => x.type === "Ready")?.reason;
    await follow(custom, ns, [repo, sasRepo, backup], {
      timeoutMs: 180_000,
      until: (o) => {
        const b = backupDone(o);
        return b === true ? readyReason(o, repo) === "Ready" && readyReason(o, sasRepo) === "NotInitialized" : b;
      },
    });
    await kubectl(["apply", "-f", "-"], { input: toYaml(retargeted(RESTORE_EXAMPLES, { namespace: ns })) });
    const restore: Tracked = { kind: "RestoreSession", name: names.restoreSession };
    await follow(custom, ns, [restore], { timeoutMs: 180_000, until: sessionSucceeded(restore) });
    assert.deepEqual(diffTrees(source, await readTree(core, ns, names.restorePvc)), []);
    // And an integrity check, asked for as an admin would, so its series exist too.
    await kubectl(["annotate", "-n", ns, "repository", names.repository, "blobstash.io/check-now=metrics", "--overwrite"]);
    await waitFor("the check's result", async () => {
      const r = (await custom.getNamespacedCustomObject({ group: "stash.appscode.com", version: "v1alpha1", plural: "repositories", namespace: ns, name: names.repository })) as { status?: { lastCheck?: { request?: string } } };
      return r.status?.lastCheck?.request === "metrics";
    }, { timeoutMs: 90_000, intervalMs: 250 });
    metrics = parseMetrics(await op.serviceMetrics());
  });

  after(async function () {
    stopWatch?.();
    await op?.stop().catch(() => undefined);
    for (const n of [ns, `${ns}-operator`]) await execa(tool("kubectl"), ["delete", "namespace", n, "--wait=false"], { env: { KUBECONFIG: cluster().kubeconfig }, reject: false });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("answers /healthz and /readyz with 200 (what the chart's probes ask)", async function () {
    const [pod] = await op.pods();
    for (const p of ["/healthz", "/readyz"]) {
      const body = await kubectl(["get", "--raw", `/api/v1/namespaces/${op.namespace}/pods/${pod}:8080/proxy${p}`]);
      assert.ok(body.length > 0, p);
    }
    const ready = await kubectl(["-n", op.namespace, "get", "pod", pod!, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"]);
    assert.equal(ready, "True", "the kubelet's readiness probe passes");
  });

  it("counts and times reconciles per kind", function () {
    for (const kind of ["Repository", "BackupConfiguration", "BackupSession", "RestoreSession"]) {
      assert.ok(sample(metrics, "blobstash_reconcile_total", { kind, outcome: "success" }) >= 1, `${kind} reconciled`);
      const count = sample(metrics, "blobstash_reconcile_duration_seconds_count", { kind });
      assert.ok(count >= 1, `${kind} reconcile durations observed`);
      assert.equal(sample(metrics, "blobstash_reconcile_duration_seconds_bucket", { kind, le: "+Inf" }), count);
    }
  });

  it("reports each Repository's readiness, and Repositories per reason", function () {
    assert.equal(sample(metrics, "blobstash_repository_ready", { namespace: ns, repository: names.repository }), 1);
    // A SAS Repository nobody backed up into yet: usable (Ready=True), reason NotInitialized.
    assert.equal(sample(metrics, "blobstash_repository_ready", { namespace: ns, repository: "sas-repo" }), 1);
    assert.equal(sample(metrics, "blobstash_repositories", { reason: "Ready" }), 1);
    assert.equal(sample(metrics, "blobstash_repositories", { reason: "NotInitialized" }), 1);
  });

  it("counts sessions by kind and phase, and times the Jobs", function () {
    assert.equal(sample(metrics, "blobstash_sessions_total", { kind: "BackupSession", phase: "Succeeded" }), 1);
    assert.equal(sample(metrics, "blobstash_sessions_total", { kind: "RestoreSession", phase: "Succeeded" }), 1);
    assert.equal(metrics.filter((s) => s.name === "blobstash_sessions_total" && s.labels.phase === "Failed" && s.value > 0).length, 0);
    for (const kind of ["backup", "restore"]) {
      assert.equal(sample(metrics, "blobstash_job_duration_seconds_count", { kind, outcome: "success" }), 1);
      const seconds = sample(metrics, "blobstash_job_duration_seconds_sum", { kind, outcome: "success" });
      assert.ok(seconds > 0 && seconds < 180, `${kind} Job took ${seconds} s`);
    }
  });

  it("reports the last successful backup, snapshot count and stored size of the Repository", function () {
    const labels = { namespace: ns, repository: names.repository };
    const last = sample(metrics, "blobstash_repository_last_successful_backup_timestamp_seconds", labels) * 1000;
    assert.ok(last >= backupStarted - 1000 && last <= Date.now(), `last backup at ${new Date(last).toISOString()}`);
    assert.equal(sample(metrics, "blobstash_repository_snapshots", labels), 1);
    // The sample holds 192 KiB of random bytes: the repository cannot be smaller.
    assert.ok(sample(metrics, "blobstash_repository_size_bytes", labels) > 192 * 1024);
    assert.equal(sample(metrics, "blobstash_repository_integrity", labels), 1, "the check found the repository whole");
  });

  it("exports every series the README documents, and documents every blobstash_ series it exports", function () {
    const documented = documentedSeries();
    assert.ok(documented.length >= 9, `README documents ${documented.length} series`);
    const base = (n: string) => n.replace(/_(bucket|sum|count)$/, "");
    const exported = new Set(metrics.map((s) => base(s.name)));
    for (const name of documented) assert.ok(exported.has(name), `${name} is documented but not exported`);
    const undocumented = [...exported].filter((n) => n.startsWith("blobstash_") && !n.startsWith("blobstash_process_") && !documented.includes(n));
    assert.deepEqual(undocumented, []);
  });

  it("never writes a secret value into its log, events, Job pod logs or metrics", async function () {
    // The minted SAS of the backup and of the restore Job, at least, were seen.
    assert.ok([...secrets].filter((s) => s.includes("sig=")).length >= 3, "the per-Job Secrets were observed");
    const podLogs = podLogFiles(cluster(), ns, "restic").map((f) => readFileSync(f, "utf8"));
    assert.ok(podLogs.length >= 2, "the backup and restore pods' logs were found");
    const places: Record<string, string> = {
      "operator log": await op.logs(),
      events: await kubectl(["get", "events", "-n", ns, "-o", "json"]),
      "Job pod logs": podLogs.join("\n"),
      metrics: await op.serviceMetrics(),
    };
    assert.match(places.events!, /BackupSucceeded|Succeeded/, "events were recorded");
    for (const [where, text] of Object.entries(places)) {
      for (const s of secrets) assert.ok(!text.includes(s), `a secret value (${s.slice(0, 4)}…, ${s.length} chars) appears in the ${where}`);
    }
  });
});
