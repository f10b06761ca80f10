// `node e2e/operator-cli.ts up [--dir <state dir>]` (default $BLOBSTASH_STATE_DIR, else .local): the
// second half of `make up`. On a running local cluster, applies crds/, the Helm chart's ServiceAccount
// and RBAC, and starts `blobstash operator` from source as that ServiceAccount (log in
// <dir>/logs/operator.log). Idempotent: an operator that already runs is left alone. `make down` stops
// it with the rest of the cluster.
import path from "node:path";
import { parseArgs } from "node:util";
import { attachCluster } from "./cluster/cluster.ts";
import { applyCrds, installOperatorIdentity, startOperator } from "./cluster/operator.ts";
import { isRunning, readRecord } from "./cluster/supervisor.ts";
import { repoRoot } from "./cluster/tools.ts";

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dir: { type: "string" } }, allowPositionals: true });
  const dir = path.resolve(values.dir ?? process.env.BLOBSTASH_STATE_DIR ?? path.join(repoRoot, ".local"));
  const cluster = await attachCluster(dir);
  if (!cluster) {
    process.stderr.write(`no local cluster runs in ${dir}; run \`make up\`\n`);
    return 1;
  }
  const existing = readRecord(dir, "operator");
  if (existing && isRunning(existing)) {
    console.log(`operator already runs (PID ${existing.pid}, log ${existing.logFile})`);
    return 0;
  }
  const crds = await applyCrds(cluster);
  console.log(`CRDs applied: ${crds.join(", ")}`);
  const kubeconfig = await installOperatorIdentity(cluster);
  const op = await startOperator(cluster, { kubeconfig, dieWithParent: false, args: ["--leader-elect=true"] });
  console.log(`operator ready as ServiceAccount blobstash-system/blobstash (PID ${op.pid}, metrics ${op.metricsUrl}/metrics, log ${op.logFile})`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
