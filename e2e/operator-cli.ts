// `node e2e/operator-cli.ts up [--dir <state dir>]` (default $BLOBSTASH_STATE_DIR, else .local): the
// second half of `make up`. On a running local cluster: builds the project's image if its inputs
// changed (content hash), imports it into every node, applies crds/ and installs (or upgrades) the
// Helm chart as a cluster admin would, so a code change rolls the Deployment to the new image.
import path from "node:path";
import { parseArgs } from "node:util";
import { attachCluster, refreshImages } from "./cluster/cluster.ts";
import { applyCrds, installOperator, OPERATOR_NAMESPACE, RELEASE } from "./cluster/operator.ts";
import { repoRoot } from "./cluster/tools.ts";
import { waitFor } from "./cluster/wait.ts";

/** The chart's default replicaCount, which make up keeps. */
const CHART_REPLICAS = 2;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dir: { type: "string" } }, allowPositionals: true });
  const dir = path.resolve(values.dir ?? process.env.BLOBSTASH_STATE_DIR ?? path.join(repoRoot, ".local"));
  const attached = await attachCluster(dir);
  if (!attached) {
    process.stderr.write(`no local cluster runs in ${dir}; run \`make up\`\n`);
    return 1;
  }
  const cluster = await refreshImages(attached, (line) => console.log(`[operator] ${line}`));
  const crds = await applyCrds(cluster);
  console.log(`[operator] CRDs applied: ${crds.join(", ")}`);
  const op = await installOperator(cluster);
  await op.waitReady();
  // The rollout is over when only the new pods run and one of them holds the Lease.
  const [pods, leader] = await waitFor("the new pods to run alone and one of them to lead", async () => {
    const [current, holder] = await Promise.all([op.pods(), op.leader()]);
    return current.length === CHART_REPLICAS && current.includes(holder) ? ([current, holder] as const) : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });
  console.log(`[operator] helm release ${RELEASE} in ${OPERATOR_NAMESPACE}: image ${cluster.images.blobstash}, ${pods.length} pods ready (${pods.join(", ")}); Lease holder ${leader}`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
