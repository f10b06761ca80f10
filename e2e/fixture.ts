// Mocha root-hook plugin (.mocharc.e2e.json "require"): one local cluster per test run, in a fresh
// temp dir on free ports, shared by every e2e test. Two runs at once never collide: separate dirs,
// separate ports, separate CA. Set BLOBSTASH_E2E_KEEP=1 to keep the state dir (logs) after a green run.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Context, Suite } from "mocha";
import { startCluster, teardownNow, type Cluster } from "./cluster/cluster.ts";
import { useClusterInThisProcess } from "./cluster/in-process.ts";
import { isRunning, readRecords } from "./cluster/supervisor.ts";

let current: Cluster | undefined;
let dir: string | undefined;
let startFailed = false;

/** Whether any test or hook under suite failed (a failing `before` hook fails no test, but the run is red). */
function anyFailed(suite: Suite): boolean {
  const hooks = (suite as unknown as Record<string, { state?: string }[] | undefined>);
  const failedHook = ["_beforeAll", "_beforeEach", "_afterEach", "_afterAll"].some((k) => hooks[k]?.some((h) => h.state === "failed"));
  return failedHook || suite.tests.some((t) => t.state === "failed") || suite.suites.some(anyFailed);
}

/** The cluster this test run shares. */
export function cluster(): Cluster {
  if (!current) throw new Error("no e2e cluster: run through .mocharc.e2e.json, which requires e2e/fixture.ts");
  return current;
}

const verbose = !!process.env.BLOBSTASH_E2E_VERBOSE;

export const mochaHooks = {
  async beforeAll(this: Context) {
    // A cold start builds the images (the project's one compiles the operator) before the nodes import them.
    this.timeout(900_000);
    dir = await mkdtemp(path.join(os.tmpdir(), "blobstash-e2e-"));
    const stateDir = dir;
    // Nothing can be awaited in 'exit': if the run ends without afterAll, the cluster is torn down
    // synchronously (processes, containers, bridge, cgroups, kernel settings). A signal ends the run
    // through 'exit' too.
    process.once("exit", () => teardownNow(stateDir));
    for (const sig of ["SIGTERM", "SIGHUP"] as const) process.once(sig, () => process.exit(128 + (sig === "SIGTERM" ? 15 : 1)));
    const t0 = Date.now();
    try {
      current = await startCluster({ dir, dieWithParent: true, log: (line) => verbose && console.log(`    [cluster] ${line}`) });
    } catch (err) {
      startFailed = true;
      console.log(`  e2e cluster failed to start; logs kept in ${dir}/logs`);
      throw err;
    }
    useClusterInThisProcess(current);
    console.log(`  e2e cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${dir})`);
  },
  async afterAll(this: Context) {
    this.timeout(120_000);
    if (!dir) return;
    const records = readRecords(dir);
    const t0 = Date.now();
    await current?.stop();
    current = undefined;
    const survivors = records.filter(isRunning);
    if (survivors.length > 0) throw new Error(`cluster processes survived stop(): ${survivors.map((r) => `${r.name} ${r.pid}`).join(", ")}`);
    let root: Suite | undefined = this.test?.parent;
    while (root?.parent) root = root.parent;
    if (startFailed || (root && anyFailed(root)) || process.env.BLOBSTASH_E2E_KEEP) {
      console.log(`  e2e cluster stopped; state and logs kept in ${dir}`);
    } else {
      await rm(dir, { recursive: true, force: true });
      console.log(`  e2e cluster stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  },
};
