import { servingArgs, startComponent, type ComponentConfig } from "./component.ts";
import type { ProcessRecord } from "./supervisor.ts";

export type SchedulerConfig = ComponentConfig;

export function schedulerArgs(cfg: Pick<SchedulerConfig, "pki" | "kubeconfig" | "port">): string[] {
  return [
    "--kubeconfig", cfg.kubeconfig,
    "--leader-elect=false",
    ...servingArgs(cfg),
  ];
}

/** Starts kube-scheduler (it places every pod; nothing binds them by hand) and waits for /healthz. */
export function startScheduler(cfg: SchedulerConfig): Promise<ProcessRecord> {
  return startComponent("kube-scheduler", cfg, schedulerArgs(cfg));
}
