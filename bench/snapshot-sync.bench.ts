// Snapshot objects at scale: BENCH_REPOS Repositories (1000) with BENCH_SNAPSHOTS snapshots each
// (100) in BENCH_NAMESPACES namespaces (100). The restic repositories are written straight into
// Azurite by bench/restic-repo.ts (restic's format, which restic itself lists: restic-repo.test.ts).
// Baseline, same cluster and objects: the operator with --snapshot-sync-period=0 (no Snapshot
// objects): what the Repositories alone cost in etcd objects and bytes and in operator memory, and
// how long until all are Ready. Then the operator with Snapshot objects on: time from its start
// until every Snapshot object exists, objects and bytes they add (bytes: the objects' JSON, the
// form the API server stores custom resources in), operator RSS, and Azure requests per minute
// once settled. Printed as ratios against the baseline; no targets (this measures a cost).

import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import type { Repository } from "../operator/api/repository.ts";
import "./resolve-localhost.ts";
import type { Snapshot } from "../operator/api/snapshot.ts";
import { waitFor } from "../e2e/cluster/wait.ts";
import { createNamespace, inParallel, main, REPOSITORY, repositoryBody } from "./harness.ts";
import { readCpuSeconds, readMemory } from "./proc.ts";
import { Report } from "./report.ts";
import { newMasterKeys, repositoryFiles, snapshotFile, type RepositoryFile } from "./restic-repo.ts";
import { envInt, ms, ratio } from "./stats.ts";
import { EventClock, readyOf } from "./watch.ts";

const SNAPSHOT = { group: "repositories.stash.appscode.com", version: "v1alpha1", plural: "snapshots" };
const PASSWORD = "bench-password";

main("snapshot-sync", async (b) => {
  const repos = envInt("BENCH_REPOS", 1000);
  const perRepo = envInt("BENCH_SNAPSHOTS", 100);
  const namespaces = Math.min(repos, envInt("BENCH_NAMESPACES", 100));
  const concurrency = envInt("BENCH_CLIENT_CONCURRENCY", 16);
  const container = "bench-snapshots";
  const nsNames = Array.from({ length: namespaces }, (_, i) => `bench-snap-${String(i).padStart(3, "0")}`);
  const items = Array.from({ length: repos }, (_, i) => ({ namespace: nsNames[i % namespaces]!, name: `repo-${i}`, i }));

  // The restic repositories, written as restic would have (one master key per repository), straight
  // to Azurite, not through the cluster's CONNECT proxy: through it every upload is a new tunnel and
  // TLS handshake (the SDK's proxy agent keeps no connection alive), which ran the proxy out of file
  // descriptors (EMFILE) after some 20,000 files. *.localhost resolves to 127.0.0.1 (resolve-localhost.ts).
  const az = b.cluster.azurite;
  const proxy = process.env.HTTPS_PROXY;
  delete process.env.HTTPS_PROXY;
  const direct = new BlobServiceClient(`https://${az.account}.blob.${az.endpointSuffix}`, new StorageSharedKeyCredential(az.account, az.key));
  const c = direct.getContainerClient(container);
  await c.createIfNotExists();
  const w0 = performance.now();
  // Files are sealed as they are uploaded (a million small blobs would not fit in memory at once),
  // many uploads in flight: Azurite, not this process, is what limits the rate.
  const uploads = envInt("BENCH_UPLOAD_CONCURRENCY", 96);
  const files = function* (): Generator<RepositoryFile & { i: number }> {
    for (const { i } of items) {
      const master = newMasterKeys();
      for (const f of repositoryFiles(master, PASSWORD)) yield { ...f, i };
      for (let j = 0; j < perRepo; j++) yield { ...snapshotFile(master, i, j), i };
    }
  };
  const source = files();
  let written = 0;
  await Promise.all(
    Array.from({ length: uploads }, async () => {
      for (let f = source.next(); !f.done; f = source.next()) {
        const { path, data, i } = f.value;
        await c.getBlockBlobClient(`snap/${i}/${path}`).uploadData(data);
        if (++written % 10_000 === 0) console.log(`${written} files written in ${ms(performance.now() - w0)}`);
      }
    }),
  );
  process.env.HTTPS_PROXY = proxy;
  console.log(`${repos} restic repositories with ${perRepo} snapshots each written in ${ms(performance.now() - w0)}`);

  await inParallel(nsNames, concurrency, async (ns) => {
    await createNamespace(b.core, ns);
    await b.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "azure-secret" }, stringData: b.accountKeySecret(PASSWORD) } });
  });
  const repoClock = new EventClock<Repository>(b.kc, `/apis/${REPOSITORY.group}/${REPOSITORY.version}/${REPOSITORY.plural}`, async () => (await b.custom.listClusterCustomObject(REPOSITORY)) as never);
  const snapClock = new EventClock<Snapshot>(b.kc, `/apis/${SNAPSHOT.group}/${SNAPSHOT.version}/${SNAPSHOT.plural}`, async () => (await b.custom.listClusterCustomObject(SNAPSHOT)) as never);
  await Promise.all([repoClock.start(), snapClock.start()]);

  // Baseline: Repositories only (Snapshot objects off).
  const base = await b.startOperator(["--snapshot-sync-period=0"]);
  await waitFor("the operator to lead", () => base.log().includes("controllers started"), { timeoutMs: 60_000 });
  const ready = new Set<string>();
  const allReady = new Promise<number>((resolve) =>
    repoClock.onEvent((o, at) => {
      if (readyOf(o)?.status === "True") ready.add(`${o.metadata?.namespace}/${o.metadata?.name}`);
      if (ready.size === repos) resolve(at);
    }),
  );
  const t0 = performance.now();
  await inParallel(items, concurrency, async ({ namespace, name, i }) => {
    await b.custom.createNamespacedCustomObject({ ...REPOSITORY, namespace, body: repositoryBody(name, "azure-secret", container, `/snap/${i}`) });
  });
  const readyMs = (await Promise.race([allReady, new Promise<number>((r) => setTimeout(() => r(Number.NaN), 1_800_000).unref())])) - t0;
  await waitFor("the baseline operator to settle (10 s)", () => performance.now() - t0 > readyMs + 10_000, { timeoutMs: 60_000, intervalMs: 500 });
  const baseRss = readMemory(base.pid)?.rssMb ?? Number.NaN;
  const repoList = (await b.custom.listClusterCustomObject(REPOSITORY)) as { items: Repository[] };
  const repoBytes = repoList.items.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)), 0);
  await base.stop();

  // With Snapshot objects: the same Repositories, a new operator.
  const total = repos * perRepo;
  let seen = 0;
  const allSnapshots = new Promise<number>((resolve) =>
    snapClock.onEvent((_o, at, kind) => {
      if (kind === "add" && ++seen === total) resolve(at);
    }),
  );
  let peak = 0;
  const op = await b.startOperator([]);
  // From the moment it leads (the baseline's clock also starts with a running operator).
  await waitFor("the operator to lead", () => op.log().includes("controllers started"), { timeoutMs: 60_000, intervalMs: 50 });
  const s0 = performance.now();
  const cpu0 = readCpuSeconds(op.pid) ?? Number.NaN;
  const azureAtLead = Number(/^blobstash_azure_requests_total (\S+)/m.exec(await op.metrics())?.[1] ?? Number.NaN);
  const sampler = setInterval(() => {
    const m = readMemory(op.pid);
    if (m) peak = Math.max(peak, m.rssMb);
  }, 250);
  const syncMs = (await Promise.race([allSnapshots, new Promise<number>((r) => setTimeout(() => r(Number.NaN), 3_600_000).unref())])) - s0;
  const settledAt = performance.now();
  const cpuSync = (readCpuSeconds(op.pid) ?? Number.NaN) - cpu0;
  const atSync = await op.metrics();
  const azure0 = Number(/^blobstash_azure_requests_total (\S+)/m.exec(atSync)?.[1] ?? Number.NaN);
  // Where the first sync's time went: the Snapshot reconciles (list, reads, creates) and their count.
  const reconcileSeconds = Number(/^blobstash_reconcile_duration_seconds_sum\{kind="Snapshot"\} (\S+)/m.exec(atSync)?.[1] ?? Number.NaN);
  const reconciles = Number(/^blobstash_reconcile_duration_seconds_count\{kind="Snapshot"\} (\S+)/m.exec(atSync)?.[1] ?? Number.NaN);
  const rssAtSync = readMemory(op.pid)?.rssMb ?? Number.NaN;
  console.log(`all Snapshot objects after ${ms(syncMs)}; operator RSS ${rssAtSync.toFixed(0)} MB, CPU ${cpuSync.toFixed(0)} s`);
  const modified0 = snapClock.modified;
  await waitFor("a 120 s settled window", () => performance.now() - settledAt > 120_000, { timeoutMs: 130_000, intervalMs: 1000 });
  const azure1 = Number(/^blobstash_azure_requests_total (\S+)/m.exec(await op.metrics())?.[1] ?? Number.NaN);
  clearInterval(sampler);
  const rss = readMemory(op.pid);
  const snapList = (await b.custom.listClusterCustomObject(SNAPSHOT)) as { items: Snapshot[] };
  const snapBytes = snapList.items.reduce((n, s) => n + Buffer.byteLength(JSON.stringify(s)), 0);
  await Promise.all([repoClock.stop(), snapClock.stop()]);
  await op.stop();

  const report = new Report(`${repos} Repositories × ${perRepo} snapshots in ${namespaces} namespaces`);
  report.note(`operator runs as ${b.operatorBuild}`);
  report.duration("all Snapshot objects, from leading", syncMs, { name: `all ${repos} Repositories Ready (baseline, from first create)`, value: readyMs });
  report.figure("objects: Snapshots / Repositories", `${snapList.items.length} / ${repoList.items.length}`, `${ratio(snapList.items.length, repoList.items.length)} the baseline's objects`);
  report.figure("bytes (JSON): Snapshots", `${(snapBytes / 2 ** 20).toFixed(1)} MB`, `${(snapBytes / Math.max(1, snapList.items.length)).toFixed(0)} B each; ${ratio(snapBytes, repoBytes)} the Repositories' ${(repoBytes / 2 ** 20).toFixed(1)} MB`);
  report.figure("operator RSS: with Snapshots / baseline", `${rss?.rssMb.toFixed(0)} / ${baseRss.toFixed(0)} MB`, `${ratio(rss?.rssMb ?? Number.NaN, baseRss)}; peak ${peak.toFixed(0)} MB (VmHWM ${rss?.peakMb.toFixed(0)} MB)`);
  report.figure("first sync: Azure requests, operator CPU", `${(azure0 - azureAtLead).toFixed(0)}, ${cpuSync.toFixed(0)} s`, `${((azure0 - azureAtLead) / total).toFixed(2)} requests per snapshot; CPU ${ratio(cpuSync * 1000, syncMs)} of the wall time`);
  report.figure("first sync: Snapshot reconciles", `${reconciles}`, `${(reconcileSeconds / Math.max(1, reconciles)).toFixed(2)} s each on average (8 workers, --concurrency; at most 500 reads a look)`);
  report.figure("Azure requests/min once settled", `${((azure1 - azure0) / 2).toFixed(0)}`, `${((azure1 - azure0) / 2 / repos).toFixed(2)} per Repository (sync period 60 s, revalidation 60 s)`);
  report.figure("Snapshot writes once settled (MODIFIED)", `${snapClock.modified - modified0}`, "in 120 s");
  return report.finish();
});
