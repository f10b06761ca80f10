// apply→Ready latency of one Repository, as a user watching `kubectl get repository -w` sees it:
// create a Repository (valid account-key Secret, existing container, fresh prefix: NotInitialized,
// Ready True, after the full Azure probe), and time until the watch delivers Ready=True.
// Baselines, measured in the same loop on the same cluster: a ConfigMap create until its watch
// event (the API server's own round trip) and the Azure probe alone, run from this process.
// Targets: p50 ≤ 300 ms, p99 ≤ 1 s.   BENCH_APPLIES (100), BENCH_WARMUP (3).

import type { V1ConfigMap } from "@kubernetes/client-node";
import type { Repository } from "../operator/api/repository.ts";
import { AzureClientCache } from "../operator/azure/clients.ts";
import { parseStorageSecret } from "../operator/azure/credentials.ts";
import { probeBackend } from "../operator/azure/probe.ts";
import { waitFor } from "../e2e/cluster/wait.ts";
import { createNamespace, main, REPOSITORY, repositoryBody } from "./harness.ts";
import { Report } from "./report.ts";
import { envInt, summarize } from "./stats.ts";
import { EventClock, readyOf } from "./watch.ts";

main("repository-latency", async (b) => {
  const applies = envInt("BENCH_APPLIES", 100);
  const warmup = envInt("BENCH_WARMUP", 3);
  const ns = "bench-latency";
  const container = "bench-latency";
  await createNamespace(b.core, ns);
  const secretData = b.accountKeySecret("bench-latency-password");
  await b.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "azure-secret" }, stringData: secretData } });
  await b.blob.getContainerClient(container).createIfNotExists();

  const op = await b.startOperator();
  await waitFor("the operator to lead", () => op.log().includes("controllers started"), { timeoutMs: 30_000 });

  const repos = new EventClock<Repository>(b.kc, `/apis/${REPOSITORY.group}/${REPOSITORY.version}/namespaces/${ns}/${REPOSITORY.plural}`, async () =>
    (await b.custom.listNamespacedCustomObject({ ...REPOSITORY, namespace: ns })) as never,
  );
  const configMaps = new EventClock<V1ConfigMap>(b.kc, `/api/v1/namespaces/${ns}/configmaps`, () => b.core.listNamespacedConfigMap({ namespace: ns }));
  await Promise.all([repos.start(), configMaps.start()]);

  const parsed = parseStorageSecret(secretData, { secretName: "azure-secret" });
  if (!parsed.ok) throw new Error(parsed.message);
  const azure = new AzureClientCache().get({ ...parsed.credentials, endpointSuffix: b.cluster.azurite.endpointSuffix });

  const latency: number[] = [];
  const apiRoundTrip: number[] = [];
  const azureProbe: number[] = [];
  const reasons = new Map<string, number>();
  for (let i = 0; i < warmup + applies; i++) {
    const counted = i >= warmup;

    const cm = `cm-${i}`;
    const cmSeen = configMaps.next((o) => o.metadata?.name === cm, 10_000, `ConfigMap ${cm} added`);
    let t0 = performance.now();
    await b.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: cm }, data: { i: String(i) } } });
    const cmAt = (await cmSeen).at;
    if (counted) apiRoundTrip.push(cmAt - t0);

    const prefix = `/latency/${i}`;
    t0 = performance.now();
    const probe = await probeBackend(azure, { container, prefix });
    if (!probe.ok) throw new Error(`the Azure probe failed from the bench process: ${probe.failure.reason}`);
    if (counted) azureProbe.push(performance.now() - t0);

    const name = `lat-${i}`;
    const ready = repos.next((o) => o.metadata?.name === name && readyOf(o)?.status === "True", 30_000, `${ns}/${name} Ready=True`);
    t0 = performance.now();
    await b.custom.createNamespacedCustomObject({ ...REPOSITORY, namespace: ns, body: repositoryBody(name, "azure-secret", container, prefix) });
    const seen = await ready;
    if (counted) latency.push(seen.at - t0);
    const reason = readyOf(seen.obj)?.reason ?? "?";
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  await Promise.all([repos.stop(), configMaps.stop()]);

  const l = summarize(latency);
  const api = summarize(apiRoundTrip);
  const az = summarize(azureProbe);
  const report = new Report(`Repository apply→Ready latency (${applies} applies after ${warmup} warm-up, one at a time)`);
  report.note(`Ready reasons seen: ${[...reasons].map(([r, n]) => `${r} ×${n}`).join(", ")}`);
  report.duration("apply→Ready p50", l.p50, { name: "API create→watch p50", value: api.p50 });
  report.duration("apply→Ready p90", l.p90, { name: "API create→watch p90", value: api.p90 });
  report.duration("apply→Ready p99", l.p99, { name: "API create→watch p99", value: api.p99 });
  report.duration("apply→Ready max", l.max);
  report.duration("baseline: ConfigMap create→watch event p50", api.p50);
  report.duration("baseline: Azure probe alone (4 requests) p50", az.p50);
  report.duration("apply→Ready p50 against API + probe", l.p50, { name: "one API round trip + probe", value: api.p50 + az.p50 });
  report.atMost("apply→Ready p50", l.p50, 300, "ms");
  report.atMost("apply→Ready p99", l.p99, 1000, "ms");
  await op.stop();
  return report.finish();
});
