// `node e2e/cluster/cli.ts up|down|status [--dir <state dir>]` — what `make up` / `make down` run.
import path from "node:path";
import { parseArgs } from "node:util";
import { attachCluster, downCluster, startCluster, type Cluster } from "./cluster.ts";
import { readRecords, isRunning } from "./supervisor.ts";
import { repoRoot } from "./tools.ts";

const usage = "usage: node e2e/cluster/cli.ts up|down|status [--dir <state dir, default .local>]";

/** Relative to the working directory when inside it, absolute otherwise: whatever is shorter to paste. */
function show(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel === "" ? "." : rel.startsWith("..") ? p : rel;
}

function describe(cluster: Cluster): string {
  const rel = show(cluster.dir);
  const procs = readRecords(cluster.dir)
    .map((r) => `  ${r.name.padEnd(24)} PID ${String(r.pid).padEnd(8)} log ${show(r.logFile)}`)
    .join("\n");
  return [
    `processes:`,
    procs,
    `kube-apiserver  ${cluster.apiServerUrl}   (kubeconfig ${show(cluster.kubeconfig)})`,
    `Azurite         https://${cluster.azurite.account}.blob.${cluster.azurite.endpointSuffix}  (via proxy ${cluster.env.HTTPS_PROXY})`,
    `nodes           ${cluster.nodes.map((n) => `${n.name} (${n.ip}, pods ${n.podCidr})`).join(", ")} on bridge ${cluster.network.bridge}`,
    `images          ${cluster.images.blobstash}, ${cluster.images.toolbox}, ${cluster.images.pause}`,
    ``,
    `use it:`,
    `  . ${rel}/env`,
    `  kubectl get nodes`,
    `  RESTIC_PASSWORD=secret restic -r azure:demo:/repo init`,
    `stop it: make down   (or node e2e/cluster/cli.ts down${rel === ".local" ? "" : ` --dir ${rel}`})`,
  ].join("\n");
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { dir: { type: "string" } },
  });
  const dir = path.resolve(values.dir ?? process.env.BLOBSTASH_STATE_DIR ?? path.join(repoRoot, ".local"));
  const log = (line: string) => console.log(`[cluster] ${line}`);
  switch (positionals[0]) {
    case "up": {
      const running = await attachCluster(dir);
      if (running) {
        log(`already running in ${dir}; reusing it (all processes alive and healthy)`);
        console.log(describe(running));
        return 0;
      }
      if (readRecords(dir).some(isRunning)) {
        log(`a previous cluster in ${dir} is only partly alive; stopping it first`);
        await downCluster(dir);
      }
      const cluster = await startCluster({ dir, log });
      console.log(describe(cluster));
      return 0;
    }
    case "down": {
      const stopped = await downCluster(dir);
      const names = Object.entries(stopped).map(([n, pid]) => `${n} (${pid})`);
      log(names.length > 0 ? `stopped ${names.join(", ")}; none of them runs any more` : `nothing was running in ${dir}`);
      return 0;
    }
    case "status": {
      const records = readRecords(dir);
      if (records.length === 0) console.log(`nothing recorded in ${dir}`);
      for (const r of records) console.log(`${r.name.padEnd(24)} PID ${String(r.pid).padEnd(8)} ${isRunning(r) ? "running" : "NOT running"}`);
      return records.every(isRunning) ? 0 : 1;
    }
    default:
      console.error(usage);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`[cluster] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
