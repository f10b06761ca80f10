// The second half of `make e2e-kind` (e2e/kind/run.sh checks Docker and builds kind and the image
// first): backup and restore through real pods on a kind cluster. Creates the cluster, loads the
// image (with the emulator's CA trusted), runs Azurite in the cluster, installs the chart, then does
// what `make demo` does — examples/ applied, sample data written by a toolbox pod, phases followed,
// the restored tree compared with the source — with the same helpers (e2e/demo/, e2e/support/).
// Deletes the cluster at the end unless --keep.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { execa } from "execa";
import { account as emulatorAccount } from "../cluster/cluster.ts";
import { createServerCertificate } from "../cluster/certs.ts";
import { repoRoot, tool } from "../cluster/tools.ts";
import { BACKUP_EXAMPLES, exampleNames, loadExample, RESTORE_EXAMPLES, toYaml } from "../demo/examples.ts";
import { follow, sessionSucceeded, trackedKey, type Tracked } from "../demo/follow.ts";
import { sampleTree } from "../demo/sample.ts";
import { ensureImage } from "../images/images.ts";
import { readTree, writeTree } from "../support/toolbox.ts";
import { diffTrees, summarizeTree } from "../support/tree.ts";
import {
  AZURITE_NAMESPACE,
  azuriteHost,
  azuriteManifests,
  CREATE_CONTAINER_SCRIPT,
  ENDPOINT_SUFFIX,
  toolPod,
  trustingDockerfile,
} from "./manifests.ts";

const BASE_IMAGE = "blobstash:dev"; // what run.sh builds from the Dockerfile
const IMAGE = "blobstash:e2e-kind";
const names = exampleNames();
const t0 = Date.now();
const log = (line: string) => console.log(`[e2e-kind ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`);

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { keep: { type: "boolean" } } });
  const cluster = `blobstash-e2e-${randomBytes(3).toString("hex")}`;
  const work = mkdtempSync(path.join(os.tmpdir(), "blobstash-e2e-kind-"));
  const kubeconfig = path.join(work, "kubeconfig");
  const run = (cmd: string, args: string[], opts: { input?: string; cwd?: string } = {}) =>
    execa(cmd, args, { env: { ...process.env, KUBECONFIG: kubeconfig }, stdout: "pipe", stderr: "inherit", ...opts });
  const kubectl = (args: string[], input?: string) => run(tool("kubectl"), args, { input });
  const apply = (objs: unknown[]) => kubectl(["apply", "--server-side", "-f", "-"], objs.map((o) => JSON.stringify(o)).join("\n"));

  /** Runs a tool pod to completion and returns its log; fails with the log when it fails. */
  async function runPod(pod: ReturnType<typeof toolPod>): Promise<string> {
    const meta = pod.metadata as { name: string; namespace: string };
    await apply([pod]);
    const phase = async () => (await kubectl(["get", "pod", "-n", meta.namespace, meta.name, "-o", "jsonpath={.status.phase}"])).stdout;
    const deadline = Date.now() + 300_000;
    let p = await phase();
    while (p !== "Succeeded" && p !== "Failed" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      p = await phase();
    }
    const logs = (await execa(tool("kubectl"), ["logs", "-n", meta.namespace, meta.name], { env: { ...process.env, KUBECONFIG: kubeconfig }, reject: false })).stdout;
    if (p !== "Succeeded") throw new Error(`pod ${meta.name} ended ${p || "nowhere"}: ${logs}`);
    return logs;
  }

  log(`creating kind cluster ${cluster}`);
  await run(tool("kind"), ["create", "cluster", "--name", cluster, "--kubeconfig", kubeconfig, "--wait", "180s"]);
  try {
    const key = randomBytes(64).toString("base64");
    const tls = await createServerCertificate(work, [azuriteHost(emulatorAccount)]);

    log(`building ${IMAGE}: ${BASE_IMAGE} trusting the emulator's CA`);
    const context = path.join(work, "image");
    mkdirSync(context);
    writeFileSync(path.join(context, "Dockerfile"), trustingDockerfile(BASE_IMAGE));
    writeFileSync(path.join(context, "ca.crt"), readFileSync(tls.caCert));
    await run("docker", ["build", "-q", "-t", IMAGE, context]);
    await run(tool("kind"), ["load", "docker-image", IMAGE, "--name", cluster]);
    const toolbox = await ensureImage("toolbox");
    await run(tool("kind"), ["load", "image-archive", toolbox.archive, "--name", cluster]);

    log(`Azurite in namespace ${AZURITE_NAMESPACE} as https://${azuriteHost(emulatorAccount)}`);
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
    const nodeVersion = /NODE_VERSION=(\S+)/.exec(readFileSync(path.join(repoRoot, "e2e/tools/versions.env"), "utf8"))?.[1] ?? "24";
    await apply(azuriteManifests({
      account: emulatorAccount, key, tlsCert: readFileSync(tls.cert, "utf8"), tlsKey: readFileSync(tls.key, "utf8"),
      shim: readFileSync(path.join(repoRoot, "e2e/cluster/azurite-compat.ts"), "utf8"),
      azuriteVersion: pkg.devDependencies.azurite!, nodeImage: `node:${nodeVersion}-bookworm-slim`,
    }));

    log("installing the chart");
    await run(tool("helm"), [
      "install", "blobstash", path.join(repoRoot, "charts/blobstash"), "-n", "blobstash-system", "--create-namespace",
      "--set", "image.repository=blobstash", "--set", "image.tag=e2e-kind", "--set", "image.pullPolicy=Never",
      "--set", "replicaCount=1", "--set", `operator.defaultEndpointSuffix=${ENDPOINT_SUFFIX}`, "--wait", "--timeout", "5m",
    ]);
    await kubectl(["rollout", "status", "-n", AZURITE_NAMESPACE, "deploy/azurite", "--timeout=300s"]);

    const ns = names.namespace;
    await kubectl(["create", "namespace", ns]);
    log(`container ${names.container}, Secret ${names.secret} (the documented way), sample data in PVC ${names.sourcePvc}`);
    const files = path.join(work, "secret");
    mkdirSync(files, { mode: 0o700 });
    const secret = { RESTIC_PASSWORD: randomBytes(18).toString("base64url"), AZURE_ACCOUNT_NAME: emulatorAccount, AZURE_ACCOUNT_KEY: key };
    for (const [k, v] of Object.entries(secret)) writeFileSync(path.join(files, k), v, { mode: 0o600 });
    await execa(tool("kubectl"), ["create", "secret", "generic", "-n", ns, names.secret, ...Object.keys(secret).map((k) => `--from-file=./${k}`)], {
      cwd: files, env: { ...process.env, KUBECONFIG: kubeconfig },
    });
    await runPod(toolPod({
      name: "create-container", namespace: ns, image: IMAGE, workingDir: "/app",
      command: ["node", "--input-type=module", "-e", CREATE_CONTAINER_SCRIPT],
      env: [
        { name: "ACCOUNT", value: emulatorAccount },
        { name: "KEY", valueFrom: { secretKeyRef: { name: names.secret, key: "AZURE_ACCOUNT_KEY" } } },
        { name: "SUFFIX", value: ENDPOINT_SUFFIX },
        { name: "CONTAINER", value: names.container },
      ],
    }));
    await kubectl(["apply", "-f", "-"], toYaml(loadExample("pvc.yaml")));
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    await writeTree(core, ns, names.sourcePvc, sampleTree());

    log("backup: examples/repository.yaml, backupconfiguration.yaml, backupsession.yaml");
    await kubectl(["apply", "-f", "-"], toYaml(BACKUP_EXAMPLES.flatMap(loadExample)));
    const repo: Tracked = { kind: "Repository", name: names.repository };
    const backup: Tracked = { kind: "BackupSession", name: names.backupSession };
    const backupDone = sessionSucceeded(backup);
    await follow(custom, ns, [repo, backup], {
      timeoutMs: 600_000,
      print: log,
      until: (o) => {
        const b = backupDone(o);
        return b === true ? o.get(trackedKey(repo))?.status?.conditions?.find((c) => c.type === "Ready")?.reason === "Ready" : b;
      },
    });
    log("restore: examples/restoresession.yaml");
    await kubectl(["apply", "-f", "-"], toYaml(RESTORE_EXAMPLES.flatMap(loadExample)));
    const restore: Tracked = { kind: "RestoreSession", name: names.restoreSession };
    await follow(custom, ns, [restore], { timeoutMs: 600_000, print: log, until: sessionSucceeded(restore) });

    const source = await readTree(core, ns, names.sourcePvc);
    const restored = await readTree(core, ns, names.restorePvc);
    console.log((await kubectl(["get", "repositories,backupsessions,restoresessions", "-n", ns])).stdout);
    const problems = diffTrees(source, restored);
    if (problems.length > 0 || source.length === 0) throw new Error(`the restored data differs from the source: ${problems.join("; ") || "empty source"}`);
    log(`restored tree identical: ${summarizeTree(source)}`);
    console.log("e2e-kind: OK — restored data matches the source");
    return 0;
  } finally {
    if (values.keep) {
      log(`kept: kind cluster ${cluster} (KUBECONFIG=${kubeconfig}); delete it with: kind delete cluster --name ${cluster}`);
    } else {
      await execa(tool("kind"), ["delete", "cluster", "--name", cluster], { reject: false });
      rmSync(work, { recursive: true, force: true });
    }
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`e2e-kind: FAILED — ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
