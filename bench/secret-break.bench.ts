// Time from a Secret edit that breaks the account key to Ready=False on the Repositories that use
// it, as a watcher sees it. Each trial replaces the key with a wrong one, waits for every
// Repository on that Secret to turn Ready=False, then puts the right key back and waits for Ready
// again (reported as recovery). Baseline, same trials: the time until the watch delivers that
// Secret edit itself. Target: broken key detected ≤ 2 s.
// BENCH_TRIALS (20), BENCH_REPOS_PER_SECRET (10).

import { randomBytes } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import type { Repository } from "../operator/api/repository.ts";
import { waitFor } from "../e2e/cluster/wait.ts";
import { createNamespace, main, REPOSITORY, repositoryBody } from "./harness.ts";
import { Report } from "./report.ts";
import { envInt, summarize } from "./stats.ts";
import { EventClock, readyOf } from "./watch.ts";

main("secret-break", async (b) => {
  const trials = envInt("BENCH_TRIALS", 20);
  const perSecret = envInt("BENCH_REPOS_PER_SECRET", 10);
  const ns = "bench-break";
  const container = "bench-break";
  const secretName = "azure-secret";
  const good = b.accountKeySecret("bench-break-password");
  await createNamespace(b.core, ns);
  await b.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: secretName }, stringData: good } });
  await b.blob.getContainerClient(container).createIfNotExists();

  const op = await b.startOperator();
  await waitFor("the operator to lead", () => op.log().includes("controllers started"), { timeoutMs: 30_000 });

  const repos = new EventClock<Repository>(b.kc, `/apis/${REPOSITORY.group}/${REPOSITORY.version}/namespaces/${ns}/${REPOSITORY.plural}`, async () =>
    (await b.custom.listNamespacedCustomObject({ ...REPOSITORY, namespace: ns })) as never,
  );
  const secrets = new EventClock<V1Secret>(b.kc, `/api/v1/namespaces/${ns}/secrets`, () => b.core.listNamespacedSecret({ namespace: ns }));
  await Promise.all([repos.start(), secrets.start()]);

  const names = Array.from({ length: perSecret }, (_, i) => `break-${i}`);
  /** Resolves with the arrival time of the event that brought the last of `names` to Ready=status. */
  const allReach = (status: "True" | "False", what: string) => {
    const pending = new Set(names);
    let first = Number.NaN;
    return new Promise<{ first: number; last: number; reasons: Set<string> }>((resolve, reject) => {
      const reasons = new Set<string>();
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`${what}: still waiting for ${[...pending].join(", ")}`));
      }, 60_000);
      const stop = repos.onEvent((o, at) => {
        const name = o.metadata?.name ?? "";
        const ready = readyOf(o);
        if (!pending.has(name) || ready?.status !== status) return;
        pending.delete(name);
        reasons.add(ready.reason ?? "?");
        if (Number.isNaN(first)) first = at;
        if (pending.size === 0) {
          stop();
          clearTimeout(timer);
          resolve({ first, last: at, reasons });
        }
      });
    });
  };

  const initial = allReach("True", "initial Ready");
  for (const [i, name] of names.entries()) {
    await b.custom.createNamespacedCustomObject({ ...REPOSITORY, namespace: ns, body: repositoryBody(name, secretName, container, `/break/${i}`) });
  }
  await initial;

  const putSecret = (data: Record<string, string>) => b.core.replaceNamespacedSecret({ namespace: ns, name: secretName, body: { metadata: { name: secretName }, stringData: data } });
  const firstFalse: number[] = [];
  const allFalse: number[] = [];
  const watchSecret: number[] = [];
  const recovery: number[] = [];
  const reasons = new Set<string>();
  for (let t = 0; t < trials; t++) {
    const broken = allReach("False", `trial ${t}: Ready=False`);
    const seenEdit = secrets.next((s) => s.metadata?.name === secretName, 10_000, "the Secret edit");
    const t0 = performance.now();
    // Well-formed base64 of the right length: only Azure can tell it is wrong.
    await putSecret({ ...good, AZURE_ACCOUNT_KEY: randomBytes(64).toString("base64") });
    const edit = await seenEdit;
    const r = await broken;
    watchSecret.push(edit.at - t0);
    firstFalse.push(r.first - t0);
    allFalse.push(r.last - t0);
    for (const reason of r.reasons) reasons.add(reason);

    const fixed = allReach("True", `trial ${t}: Ready again`);
    const t1 = performance.now();
    await putSecret(good);
    recovery.push((await fixed).last - t1);
  }
  await Promise.all([repos.stop(), secrets.stop()]);
  await op.stop();

  const first = summarize(firstFalse);
  const all = summarize(allFalse);
  const base = summarize(watchSecret);
  const rec = summarize(recovery);
  const report = new Report(`Secret edit that breaks the key → Ready=False (${trials} trials, ${perSecret} Repositories on the Secret)`);
  report.note(`Ready=False reasons seen: ${[...reasons].join(", ")}`);
  report.duration("first Repository False, p50", first.p50, { name: "Secret edit→watch event p50", value: base.p50 });
  report.duration(`all ${perSecret} False, p50`, all.p50, { name: "Secret edit→watch event p50", value: base.p50 });
  report.duration(`all ${perSecret} False, max`, all.max, { name: "Secret edit→watch event max", value: base.max });
  report.duration("baseline: Secret edit→watch event p50", base.p50);
  report.duration(`recovery (key fixed → all ${perSecret} Ready), p50`, rec.p50);
  report.duration(`recovery, max`, rec.max);
  report.atMost(`broken key detected (all ${perSecret}), max`, all.max, 2000, "ms");
  return report.finish();
});
