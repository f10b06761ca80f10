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
