import { readFileSync } from "node:fs";
import type { Pki } from "./certs.ts";
import { probeGet } from "./https-probe.ts";
import { exitedWithLog, startProcess, type ProcessRecord } from "./supervisor.ts";
import { tool } from "./tools.ts";
import { waitFor } from "./wait.ts";

export interface SchedulerConfig {
  dir: string;
  pki: Pki;
  kubeconfig: string;
  port: number;
  dieWithParent?: boolean;
}

export function schedulerArgs(cfg: Pick<SchedulerConfig, "pki" | "kubeconfig" | "port">): string[] {
  return [
    "--kubeconfig", cfg.kubeconfig,
    "--leader-elect=false",
    "--bind-address", "127.0.0.1",
    "--secure-port", String(cfg.port),
    "--tls-cert-file", cfg.pki.apiserverCert,
    "--tls-private-key-file", cfg.pki.apiserverKey,
    // /healthz is always allowed; without delegated authn/authz it needs no extra kubeconfig round trips.
    "--authentication-skip-lookup",
    "-v", "1",
  ];
}

/** Starts kube-scheduler (it places every pod; nothing binds them by hand) and waits for /healthz. */
export async function startScheduler(cfg: SchedulerConfig): Promise<ProcessRecord> {
  const record = startProcess(cfg.dir, "kube-scheduler", tool("kube-scheduler"), schedulerArgs(cfg), {
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    dieWithParent: cfg.dieWithParent,
  });
  const ca = readFileSync(cfg.pki.caCert);
  await waitFor("kube-scheduler /healthz", async () => (await probeGet(`https://127.0.0.1:${cfg.port}/healthz`, { ca })).status === 200, {
    timeoutMs: 60_000, intervalMs: 200, abortIf: exitedWithLog(cfg.dir, record),
  });
  return record;
}
