import { startComponent, type ComponentConfig } from "./component.ts";
import type { ProcessRecord } from "./supervisor.ts";

export type SchedulerConfig = ComponentConfig;

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
export function startScheduler(cfg: SchedulerConfig): Promise<ProcessRecord> {
  return startComponent("kube-scheduler", cfg, schedulerArgs(cfg));
}
