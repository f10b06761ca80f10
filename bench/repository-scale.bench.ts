// 10,000 Repositories in 1,000 namespaces (one account-key Secret per namespace, one container, a
// prefix each), all there when the operator starts, as on an install or an upgrade in a cluster
// that already holds them: time from the operator's process start until the watch has seen every
// one Ready, the operator's peak RSS, and the writes it makes once everything has settled, over a
// window that spans revalidations (default period 60 s): Repository status writes should be zero.
// What revalidation costs is counted too: the Azure requests the operator sends per minute once
// settled (its blobstash_azure_requests_total).
// Baselines, same cluster: the same Azure probes sent from the bench process, 8 at a time like the
// operator's default --concurrency (the target's measure); and, for context, the same number of
// plain ConfigMap creates and of the Repository creates themselves, each until the watch has seen
// them all (the API server's pace, which bounds any operator while the Repositories are still
// being created).
// The floor: the same probes, each followed by the one status write a Repository needs, from the
// bench process, 8 in flight (what any operator must do, on the same two cores).
// Targets: all Ready within 1.2 × the probes alone, peak RSS ≤ 300 MB, status writes/min = 0.
// BENCH_REPOS (10000), BENCH_NAMESPACES (1000), BENCH_WINDOW_S (120), BENCH_CLIENT_CONCURRENCY (16),
// BENCH_OPERATOR_ARGS (extra operator flags, space-separated); see harness.ts for BENCH_DIRECT_AZURE etc.

import { CoordinationV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type V1ConfigMap, type V1Lease } from "@kubernetes/client-node";
import type { Repository } from "../operator/api/repository.ts";
import { AzureClientCache } from "../operator/azure/clients.ts";
import { parseStorageSecret } from "../operator/azure/credentials.ts";
import { probeBackend } from "../operator/azure/probe.ts";
import { waitFor } from "../e2e/cluster/wait.ts";
import { createNamespace, inParallel, main, REPOSITORY, repositoryBody } from "./harness.ts";
import { cpuDelta, processStartedAt, readCpuSeconds, readMemory } from "./proc.ts";
import { Report } from "./report.ts";
import { envInt, ms } from "./stats.ts";
import { EventClock, readyOf } from "./watch.ts";

/** Reconciles counted by the operator, from its /metrics. */
async function reconciles(metrics: () => Promise<string>): Promise<number> {
  let total = 0;
  for (const m of (await metrics()).matchAll(/^blobstash_reconcile_total\{kind="Repository"[^}]*\} (\d+)/gm)) total += Number(m[1]);
  return total;
}

/** Requests the operator sent to Azure, from its /metrics. */
async function azureRequests(metrics: () => Promise<string>): Promise<number> {
  return Number(/^blobstash_azure_requests_total (\S+)/m.exec(await metrics())?.[1] ?? Number.NaN);
}

main("repository-scale", async (b) => {
  const total = envInt("BENCH_REPOS", 10_000);
  const namespaces = Math.min(total, envInt("BENCH_NAMESPACES", 1000));
  const windowS = envInt("BENCH_WINDOW_S", 120);
  const clientConcurrency = envInt("BENCH_CLIENT_CONCURRENCY", 16);
  const container = "bench-scale";
  const nsNames = Array.from({ length: namespaces }, (_, i) => `bench-scale-${String(i).padStart(3, "0")}`);
  const items = Array.from({ length: total }, (_, i) => ({ namespace: nsNames[i % namespaces]!, name: `repo-${i}` }));

  await inParallel(nsNames, clientConcurrency, async (ns) => {
    await createNamespace(b.core, ns);
    await b.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "azure-secret" }, stringData: b.accountKeySecret(`pw-${ns}`) } });
  });
  await b.blob.getContainerClient(container).createIfNotExists();

  const repos = new EventClock<Repository>(b.kc, `/apis/${REPOSITORY.group}/${REPOSITORY.version}/${REPOSITORY.plural}`, async () =>
    (await b.custom.listClusterCustomObject(REPOSITORY)) as never,
  );
  const configMaps = new EventClock<V1ConfigMap>(b.kc, "/api/v1/configmaps", () => b.core.listConfigMapForAllNamespaces({ labelSelector: "bench=scale" }));
  const events = new EventClock<CoreV1Event>(b.kc, "/api/v1/events", () => b.core.listEventForAllNamespaces());
  await Promise.all([repos.start(), configMaps.start(), events.start()]);

  // Baseline: the API server alone, before the operator runs (it would only add load).
  let cmSeen = 0;
  const allConfigMaps = new Promise<number>((resolve) =>
    configMaps.onEvent((o, at, kind) => {
      if (kind === "add" && o.metadata?.labels?.bench === "scale" && ++cmSeen === total) resolve(at);
    }),
  );
  const cm0 = performance.now();
  await inParallel(items, clientConcurrency, async ({ namespace, name }) => {
    await b.core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels: { bench: "scale" } }, data: { n: name } } });
  });
  const cmCreated = performance.now() - cm0;
  const cmAll = (await allConfigMaps) - cm0;

  // Second baseline: the Azure probes alone (the same four requests per Repository, as many in
  // flight as the operator's default --concurrency), from this process: what the emulator and the
  // proxy can serve, a floor for any operator that checks every Repository.
  const parsed = parseStorageSecret(b.accountKeySecret("baseline"), { secretName: "baseline" });
  if (!parsed.ok) throw new Error(parsed.message);
  const azure = new AzureClientCache().get({ ...parsed.credentials, endpointSuffix: b.cluster.azurite.endpointSuffix });
  const p0 = performance.now();
  await inParallel(items, 8, async (_item, i) => {
    const r = await probeBackend(azure, { container, prefix: `/baseline/${i}` });
    if (!r.ok) throw new Error(`baseline probe failed: ${r.failure.reason}`);
  });
  const probesMs = performance.now() - p0;

  // Third baseline: the Repositories themselves, created with no operator running.
  let reposSeen = 0;
  const allRepos = new Promise<number>((resolve) =>
    repos.onEvent((_o, at, kind) => {
      if (kind === "add" && ++reposSeen === total) resolve(at);
    }),
  );
  const r0 = performance.now();
  await inParallel(items, clientConcurrency, async ({ namespace, name }, i) => {
    await b.custom.createNamespacedCustomObject({ ...REPOSITORY, namespace, body: repositoryBody(name, "azure-secret", container, `/scale/${i}`) });
  });
  const reposCreated = performance.now() - r0;
  const reposAll = (await allRepos) - r0;

  // The floor for any operator on this machine: the same probes and the one status write each
  // Repository needs to show a result, from this process, 8 in flight, sharing the two cores as
  // the operator must. Conditions Unknown (reason BaselineProbe): not Ready, and replaced by the
  // operator's own, same types, with one write each.
  const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
  const unknown = ["SecretValid", "BackendReachable", "RepositoryInitialized", "PasswordValid", "Ready"].map((type) => ({
    type,
    status: "Unknown",
    reason: "BaselineProbe",
    message: `written by bench/repository-scale.bench.ts after probing the container ${container} under its prefix, to measure what a probe and a status write cost together`,
    lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  }));
  const f0 = performance.now();
  await inParallel(items, 8, async ({ namespace, name }, i) => {
    const r = await probeBackend(azure, { container, prefix: `/scale/${i}` });
    if (!r.ok) throw new Error(`floor probe failed: ${r.failure.reason}`);
    await b.custom.patchNamespacedCustomObjectStatus({ ...REPOSITORY, namespace, name, body: { status: { conditions: unknown } } }, mergePatch);
  });
  const floorMs = performance.now() - f0;

  const ready = new Set<string>();
  let lastReadyAt = 0;
  const allReady = new Promise<number>((resolve) =>
    repos.onEvent((o, at) => {
      const key = `${o.metadata?.namespace}/${o.metadata?.name}`;
      if (readyOf(o)?.status === "True" && !ready.has(key)) {
        ready.add(key);
        lastReadyAt = at;
        if (ready.size === total) resolve(at);
      }
    }),
  );
  const cpuNow = (pid?: number) => ({
    ...Object.fromEntries(Object.entries(b.cluster.pids()).map(([n, p]) => [n, readCpuSeconds(p)])),
    bench: readCpuSeconds(process.pid),
    ...(pid ? { operator: readCpuSeconds(pid) } : {}),
  });
  const cpuAtStart = { ...cpuNow(), operator: 0 };
  const op = await b.startOperator(process.env.BENCH_OPERATOR_ARGS ? process.env.BENCH_OPERATOR_ARGS.split(" ") : []);
  const t0 = processStartedAt(op.pid);
  if (t0 === undefined) throw new Error("the operator's process is gone");
  const leases = b.kc.makeApiClient(CoordinationV1Api);
  const leaseClock = new EventClock<V1Lease>(b.kc, `/apis/coordination.k8s.io/v1/namespaces/${op.namespace}/leases`, () =>
    leases.listNamespacedLease({ namespace: op.namespace }),
  );
  await leaseClock.start();
  let peakSampled = 0;
  const sampler = setInterval(() => {
    const m = readMemory(op.pid);
    if (m) peakSampled = Math.max(peakSampled, m.rssMb);
  }, 250);
  await waitFor("the operator to lead", () => op.log().includes("controllers started"), { timeoutMs: 60_000 });
  const leadingAt = performance.now();
  const leading = readMemory(op.pid);

  const giveUp = new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), 1_800_000).unref());
  const allReadyMs = (await Promise.race([allReady, giveUp])) - t0;
  const afterRamp = readMemory(op.pid);
  const rampCpu = cpuDelta(cpuAtStart, cpuNow(op.pid));

  // Settled: no Repository has changed for 5 s. Then count writes over the window.
  let lastRepoEvent = performance.now();
  repos.onEvent(() => (lastRepoEvent = performance.now()));
  await waitFor("Repositories to settle (5 s without a change)", () => performance.now() - lastRepoEvent > 5_000, { timeoutMs: 600_000, intervalMs: 250 });
  const before = {
    repos: repos.modified,
    reposAdded: repos.added,
    events: events.added + events.modified,
    leases: leaseClock.modified,
    reconciles: await reconciles(op.metrics),
    azure: await azureRequests(op.metrics),
  };
  const w0 = performance.now();
  let notReadyInWindow = 0;
  repos.onEvent((o) => {
    if (readyOf(o)?.status !== "True") notReadyInWindow++;
  });
  await waitFor(`a ${windowS} s window`, () => performance.now() - w0 >= windowS * 1000, { timeoutMs: windowS * 1000 + 10_000, intervalMs: 500 });
  const minutes = (performance.now() - w0) / 60_000;
  const during = {
    repos: repos.modified - before.repos,
    events: events.added + events.modified - before.events,
    leases: leaseClock.modified - before.leases,
    reconciles: (await reconciles(op.metrics)) - before.reconciles,
    azure: (await azureRequests(op.metrics)) - before.azure,
  };
  clearInterval(sampler);
  const end = readMemory(op.pid);
  const gauge = (text: string, name: string) => Number(new RegExp(`^blobstash_process_${name} (\\S+)`, "m").exec(text)?.[1] ?? Number.NaN) / 2 ** 20;
  const metricsText = await op.metrics();
  const heap = { used: gauge(metricsText, "nodejs_heap_size_used_bytes"), total: gauge(metricsText, "nodejs_heap_size_total_bytes"), external: gauge(metricsText, "nodejs_external_memory_bytes") };
  await Promise.all([repos.stop(), configMaps.stop(), events.stop(), leaseClock.stop()]);
  await op.stop();

  const report = new Report(`${total} Repositories in ${namespaces} namespaces, there before the operator starts`);
  report.note(`Ready=True seen for ${ready.size} of ${total}; last at ${ms(lastReadyAt - t0)} after the operator's process started; it led (caches synced) at ${ms(leadingAt - t0)}`);
  report.duration("all Ready, from the operator's start", allReadyMs, { name: `${total} Azure probes alone, 8 in flight`, value: probesMs });
  report.duration("all Ready, from the operator's start", allReadyMs, { name: `floor: ${total} probes and status writes from the bench, 8 in flight`, value: floorMs });
  report.duration(`context: ${total} Repository creates, watched (no operator)`, reposAll, { name: `${total} ConfigMap creates, watched`, value: cmAll });
  report.note(`creates accepted: Repositories ${ms(reposCreated)}, ConfigMaps ${ms(cmCreated)}, ${clientConcurrency} client requests in flight`);
  report.note(`CPU seconds from the operator's install until all Ready: ${Object.entries(rampCpu).sort((x, y) => y[1] - x[1]).map(([n, s]) => `${n} ${s.toFixed(1)}`).join(", ")}`);
  report.note(`operator runs as ${b.operatorBuild}, with bin/blobstash's Node and allocator settings`);
  report.figure("operator RSS when it led (caches synced)", `${leading?.rssMb.toFixed(0)} MB`);
  report.figure("operator RSS when all were Ready", `${afterRamp?.rssMb.toFixed(0)} MB`);
  report.figure("operator RSS at the end", `${end?.rssMb.toFixed(0)} MB`);
  report.figure("operator V8 heap used / committed at the end", `${heap.used.toFixed(0)} / ${heap.total.toFixed(0)} MB`, `external ${heap.external.toFixed(0)} MB; the rest of RSS is code, native TLS and allocator state`);
  report.figure("operator peak RSS (VmHWM)", `${end?.peakMb.toFixed(0)} MB`, `sampled max ${peakSampled.toFixed(0)} MB`);
  report.note(`settled window: ${(minutes * 60).toFixed(0)} s, revalidate period 60 s (default)`);
  report.figure("Repository reconciles in the window", `${during.reconciles}`, `${(during.reconciles / minutes).toFixed(0)}/min: revalidation runs`);
  report.figure("Repository status writes (MODIFIED)", `${during.repos}`, `${(during.repos / minutes).toFixed(1)}/min`);
  report.figure("Azure requests in the window", `${during.azure}`, `${(during.azure / minutes).toFixed(0)}/min: what revalidation costs (${(during.azure / minutes / total).toFixed(1)}/min per Repository)`);
  report.figure("Events written", `${during.events}`, `${(during.events / minutes).toFixed(1)}/min`);
  report.figure("Lease renewals (leader election)", `${during.leases}`, `${(during.leases / minutes).toFixed(1)}/min, independent of the Repository count`);
  report.figure("Repositories not Ready in the window", `${notReadyInWindow}`);
  report.atMost(`all ${total} Ready (≤ 1.2 × the probes alone)`, allReadyMs, 1.2 * probesMs, "ms");
  report.atMost("operator peak RSS", end?.peakMb ?? Number.NaN, 300, "MB");
  report.atMost("status writes once settled", during.repos / minutes, 0, "/min");
  return report.finish();
});
