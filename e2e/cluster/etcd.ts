import { mkdirSync } from "node:fs";
import { probeGet } from "./https-probe.ts";
import { exitedWithLog, startProcess, type ProcessRecord } from "./supervisor.ts";
import { tool } from "./tools.ts";
import { waitFor } from "./wait.ts";

export interface EtcdConfig {
  dir: string;
  /** On tmpfs: the cluster is disposable, and fsync-free memory writes keep the apiserver fast. */
  dataDir: string;
  clientPort: number;
  peerPort: number;
  dieWithParent?: boolean;
}

export function etcdArgs(cfg: Pick<EtcdConfig, "dataDir" | "clientPort" | "peerPort">): string[] {
  const client = `http://127.0.0.1:${cfg.clientPort}`;
  const peer = `http://127.0.0.1:${cfg.peerPort}`;
  return [
    "--name", "blobstash",
    "--data-dir", cfg.dataDir,
    "--listen-client-urls", client,
    "--advertise-client-urls", client,
    "--listen-peer-urls", peer,
    "--initial-advertise-peer-urls", peer,
    "--initial-cluster", `blobstash=${peer}`,
    "--initial-cluster-state", "new",
    "--unsafe-no-fsync",
    "--log-level", "warn",
    "--quota-backend-bytes", String(2 * 1024 ** 3),
  ];
}

/** Starts a single-member etcd and waits until it reports healthy; returns its client URL. */
export async function startEtcd(cfg: EtcdConfig): Promise<{ url: string; record: ProcessRecord }> {
  mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
  const record = startProcess(cfg.dir, "etcd", tool("etcd"), etcdArgs(cfg), {
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    dieWithParent: cfg.dieWithParent,
  });
  const url = `http://127.0.0.1:${cfg.clientPort}`;
  await waitFor("etcd /health", async () => {
    const res = await probeGet(`${url}/health`);
    return res.status === 200 && (JSON.parse(res.body) as { health?: string }).health === "true";
  }, { timeoutMs: 30_000, abortIf: exitedWithLog(cfg.dir, record) });
  return { url, record };
}
