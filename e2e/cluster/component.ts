import { readFileSync } from "node:fs";
import type { Pki } from "./certs.ts";
import { probeGet } from "./https-probe.ts";
import { exitedWithLog, startProcess, type ProcessRecord } from "./supervisor.ts";
import { tool } from "./tools.ts";
import { waitFor } from "./wait.ts";

export interface ComponentConfig {
  dir: string;
  pki: Pki;
  kubeconfig: string;
  port: number;
  dieWithParent?: boolean;
}

/** How a component serves /healthz: on loopback, with the cluster's serving certificate. */
export function servingArgs(cfg: Pick<ComponentConfig, "pki" | "port">): string[] {
  return [
    "--bind-address", "127.0.0.1",
    "--secure-port", String(cfg.port),
    "--tls-cert-file", cfg.pki.apiserverCert,
    "--tls-private-key-file", cfg.pki.apiserverKey,
    // /healthz is always allowed; without delegated authn/authz it needs no extra kubeconfig round trips.
    "--authentication-skip-lookup",
    "-v", "1",
  ];
}

/**
 * Starts a control-plane component (kube-controller-manager, kube-scheduler) serving on 127.0.0.1
 * `port` and waits until its /healthz answers 200.
 */
export async function startComponent(name: string, cfg: ComponentConfig, args: string[]): Promise<ProcessRecord> {
  const record = startProcess(cfg.dir, name, tool(name), args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    dieWithParent: cfg.dieWithParent,
  });
  const ca = readFileSync(cfg.pki.caCert);
  await waitFor(`${name} /healthz`, async () => (await probeGet(`https://127.0.0.1:${cfg.port}/healthz`, { ca })).status === 200, {
    timeoutMs: 60_000, intervalMs: 200, abortIf: exitedWithLog(cfg.dir, record),
  });
  return record;
}
