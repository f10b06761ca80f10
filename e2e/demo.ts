// `make demo` (after `make up`): the user's path from DESIGN.md on the local cluster. Creates the
// container in the emulator, the Secret the documented way, applies examples/ (Repository, PVCs,
// BackupConfiguration, an instant BackupSession, then the RestoreSession), follows the phases as
// they change, prints `kubectl get`, and checks that the restored tree equals the source (content,
// modes, symlinks, mtimes). Re-runnable: each run starts from a fresh namespace and repository.
//
//   node e2e/demo.ts [--dir <state dir>]     (default $BLOBSTASH_STATE_DIR, else .local)
//
// The last line is `demo: OK — restored data matches the source` or `demo: FAILED — <why>`.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { execa } from "execa";
import { attachCluster, type Cluster } from "./cluster/cluster.ts";
import { useClusterInThisProcess } from "./cluster/in-process.ts";
import { RELEASE, OPERATOR_NAMESPACE } from "./cluster/operator.ts";
import { repoRoot, tool } from "./cluster/tools.ts";
import { waitFor } from "./cluster/wait.ts";
import { BACKUP_EXAMPLES, exampleNames, PVC_EXAMPLES, RESTORE_EXAMPLES } from "./demo/examples.ts";
import { follow, sessionSucceeded, type Tracked, trackedKey } from "./demo/follow.ts";
import { sampleTree } from "./demo/sample.ts";
import { readTree, TOOLBOX_IMAGE, writeTree } from "./support/toolbox.ts";
import { diffTrees, summarizeTree } from "./support/tree.ts";

const DEMO_OK = "demo: OK — restored data matches the source";
const STEPS = 7;
const names = exampleNames();
const t0 = Date.now();

/** Relative to the working directory when inside it: what is shorter to paste. */
function show(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel === "" ? "." : rel.startsWith("..") ? p : rel;
}

const step = (n: number, text: string) => console.log(`\n${n}/${STEPS} ${text}`);
const say = (text: string) => console.log(`    ${text}`);
const progress = (line: string) => say(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}`);

class DemoError extends Error {}

async function kubectl(cluster: Cluster, args: string[], opts: { cwd?: string; quiet?: boolean } = {}): Promise<string> {
  const r = await execa(tool("kubectl"), args, { env: { KUBECONFIG: cluster.kubeconfig }, cwd: opts.cwd, reject: false, all: true });
  if (r.exitCode !== 0) throw new DemoError(`kubectl ${args.join(" ")} failed: ${r.all}`);
  if (!opts.quiet) for (const line of r.stdout.split("\n").filter(Boolean)) say(line);
  return r.stdout;
}

/** The operator `make up` installed with Helm: its Deployment must have a ready replica. */
async function runningOperator(cluster: Cluster, dir: string): Promise<void> {
  const r = await execa(tool("kubectl"), ["-n", OPERATOR_NAMESPACE, "get", "deployment", RELEASE, "-o", "jsonpath={.status.readyReplicas}"], {
    env: { KUBECONFIG: cluster.kubeconfig }, reject: false,
  });
  if (r.exitCode !== 0 || !(Number(r.stdout) > 0)) {
    throw new DemoError(`the operator (Deployment ${OPERATOR_NAMESPACE}/${RELEASE}) is not ready in ${show(dir)}; install it with \`make up\``);
  }
}

async function freshNamespace(cluster: Cluster): Promise<void> {
  const exists = (await execa(tool("kubectl"), ["get", "namespace", names.namespace], { env: { KUBECONFIG: cluster.kubeconfig }, reject: false })).exitCode === 0;
  if (exists) {
    say(`deleting the previous run's namespace ${names.namespace} (and everything in it) first`);
    await kubectl(cluster, ["delete", "namespace", names.namespace, "--wait=true", "--timeout=180s"]);
  }
  await kubectl(cluster, ["create", "namespace", names.namespace]);
}

async function freshContainer(cluster: Cluster): Promise<void> {
  const az = cluster.azurite;
  const service = new BlobServiceClient(`https://${az.account}.blob.${az.endpointSuffix}`, new StorageSharedKeyCredential(az.account, az.key));
  const container = service.getContainerClient(names.container);
  const created = (await container.createIfNotExists()).succeeded;
  say(created ? `created container ${names.container} in storage account ${az.account}` : `container ${names.container} exists`);
  // A fresh restic repository each run, so this run's new password opens it.
  const prefix = names.prefix.replace(/^\/+|\/+$/g, "");
  let removed = 0;
  for await (const blob of container.listBlobsFlat({ prefix: prefix ? `${prefix}/` : "" })) {
    await container.deleteBlob(blob.name);
    removed++;
  }
  if (removed > 0) say(`removed the previous run's restic repository under ${names.container}/${prefix} (${removed} blobs)`);
}

async function createSecret(cluster: Cluster): Promise<void> {
  const files = mkdtempSync(path.join(os.tmpdir(), "blobstash-demo-secret-"));
  try {
    const values = {
      RESTIC_PASSWORD: randomBytes(18).toString("base64url"),
      AZURE_ACCOUNT_NAME: cluster.env.AZURE_ACCOUNT_NAME!,
      AZURE_ACCOUNT_KEY: cluster.env.AZURE_ACCOUNT_KEY!,
    };
    for (const [key, value] of Object.entries(values)) writeFileSync(path.join(files, key), value, { mode: 0o600 });
    const args = ["create", "secret", "generic", "-n", names.namespace, names.secret, ...Object.keys(values).map((k) => `--from-file=./${k}`)];
    say(`(cd <dir with the three files> && kubectl ${args.join(" ")})`);
    await kubectl(cluster, args, { cwd: files });
  } finally {
    rmSync(files, { recursive: true, force: true });
  }
}

async function apply(cluster: Cluster, files: readonly string[]): Promise<void> {
  const args = ["apply", ...files.flatMap((f) => ["-f", `examples/${f}`])];
  say(`kubectl ${args.join(" ")}`);
  await kubectl(cluster, args.map((a) => (a.startsWith("examples/") ? path.join(repoRoot, a) : a)));
}

async function run(dir: string): Promise<void> {
  console.log(`blobstash demo on the local cluster in ${show(dir)}`);
  const cluster = await attachCluster(dir);
  if (!cluster) throw new DemoError(`no local cluster runs in ${show(dir)}; start it with \`make up\` (\`make demo\` does that first)`);
  await runningOperator(cluster, dir);
  // Proxy and CA trust of the emulator, for the Azure SDK below; kubectl gets its kubeconfig per call.
  useClusterInThisProcess(cluster);
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);

  step(1, `Azure Blob container ${names.container} in the emulator (what \`az storage container create --name ${names.container}\` does)`);
  await freshContainer(cluster);

  step(2, `namespace ${names.namespace}`);
  await freshNamespace(cluster);

  step(3, `the volumes, and sample data in PersistentVolumeClaim ${names.namespace}/${names.sourcePvc}, written by a pod of ${TOOLBOX_IMAGE}`);
  await apply(cluster, PVC_EXAMPLES);
  for (const pvc of [names.sourcePvc, names.restorePvc]) {
    await waitFor(`PVC ${names.namespace}/${pvc} bound`, async () => (await core.readNamespacedPersistentVolumeClaim({ namespace: names.namespace, name: pvc })).status?.phase === "Bound", {
      timeoutMs: 60_000, intervalMs: 200,
    });
  }
  await writeTree(core, names.namespace, names.sourcePvc, sampleTree());
  const sourceTree = await readTree(core, names.namespace, names.sourcePvc);
  say(summarizeTree(sourceTree));

  step(4, `the storage Secret ${names.secret}, made the documented way from three files`);
  await createSecret(cluster);

  step(5, "the Repository, the BackupConfiguration and an instant BackupSession");
  await apply(cluster, BACKUP_EXAMPLES);
  const repository: Tracked = { kind: "Repository", name: names.repository };
  const backup: Tracked = { kind: "BackupSession", name: names.backupSession };
  say("following them (a line per change):");
  const backupDone = sessionSucceeded(backup);
  await follow(custom, names.namespace, [repository, backup], {
    timeoutMs: 300_000,
    print: progress,
    // Done when the backup succeeded and the Repository has re-checked the repository it created.
    until: (objects) => {
      const verdict = backupDone(objects);
      if (verdict !== true) return verdict;
      const ready = (objects.get(trackedKey(repository))?.status?.conditions ?? []).find((c) => c.type === "Ready");
      return ready?.status === "True" && ready.reason === "Ready";
    },
  });

  step(6, "the RestoreSession, into the second volume");
  await apply(cluster, RESTORE_EXAMPLES);
  const restore: Tracked = { kind: "RestoreSession", name: names.restoreSession };
  await follow(custom, names.namespace, [restore], { timeoutMs: 300_000, print: progress, until: sessionSucceeded(restore) });

  console.log(`\n$ kubectl get repositories,backupsessions,restoresessions -n ${names.namespace}`);
  const table = await kubectl(cluster, ["get", "repositories,backupsessions,restoresessions", "-n", names.namespace], { quiet: true });
  console.log(table);

  step(7, `comparing ${names.namespace}/${names.restorePvc} with the source (read by a pod of ${TOOLBOX_IMAGE})`);
  const problems = diffTrees(sourceTree, await readTree(core, names.namespace, names.restorePvc));
  if (problems.length > 0) {
    for (const p of problems.slice(0, 20)) say(p);
    throw new DemoError(`the restored data differs from the source in ${problems.length} place(s)`);
  }
  say(`identical: content, owners, permission bits, symlink targets, hard links and mtimes of ${summarizeTree(sourceTree)}`);

  const rel = show(dir);
  const envHint = rel === ".local" ? "" : ` DIR=${rel}`;
  console.log(
    [
      "",
      "look further:",
      `  . ${rel}/env                                # kubectl, restic and the emulator's settings in this shell`,
      `  kubectl describe repository -n ${names.namespace} ${names.repository}      # conditions: why it is (not) Ready`,
      `  kubectl describe backupsession -n ${names.namespace} ${names.backupSession}`,
      `  kubectl get events -n ${names.namespace} --sort-by=.lastTimestamp`,
      `  RESTIC_PASSWORD=$(kubectl get secret -n ${names.namespace} ${names.secret} -o jsonpath='{.data.RESTIC_PASSWORD}' | base64 -d) \\`,
      `    restic -r azure:${names.container}:${names.prefix} snapshots`,
      `  kubectl logs -n ${OPERATOR_NAMESPACE} deployment/${RELEASE}        # the operator's JSON log (secrets redacted)`,
      `  kubectl get --raw /api/v1/namespaces/${OPERATOR_NAMESPACE}/services/${RELEASE}-metrics:metrics/proxy/metrics | grep ^blobstash_`,
      `stop everything: make down${envHint}`,
      DEMO_OK,
    ].join("\n"),
  );
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dir: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log("usage: node e2e/demo.ts [--dir <state dir>]   (default $BLOBSTASH_STATE_DIR, else .local)");
    return 0;
  }
  const dir = path.resolve(values.dir ?? process.env.BLOBSTASH_STATE_DIR ?? path.join(repoRoot, ".local"));
  try {
    await run(dir);
    return 0;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    console.log(`\nlook at: kubectl describe -n ${names.namespace} repositories,backupsessions,restoresessions; kubectl logs -n ${OPERATOR_NAMESPACE} deployment/${RELEASE}`);
    console.log(`demo: FAILED — ${why.split("\n")[0]}`);
    if (!(err instanceof DemoError) && err instanceof Error && err.stack) console.error(err.stack);
    return 1;
  }
}

process.exitCode = await main();
