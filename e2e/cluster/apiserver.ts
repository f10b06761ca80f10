import { readFileSync } from "node:fs";
import type { Pki } from "./certs.ts";
import { probeGet } from "./https-probe.ts";
import { exitedWithLog, startProcess, type ProcessRecord } from "./supervisor.ts";
import { tool } from "./tools.ts";
import { waitFor } from "./wait.ts";

export interface ApiserverConfig {
  dir: string;
  pki: Pki;
  etcdUrl: string;
  port: number;
  dieWithParent?: boolean;
}

export const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local";
export const serviceClusterIpRange = "10.0.0.0/24";

export function apiserverArgs(cfg: Pick<ApiserverConfig, "pki" | "etcdUrl" | "port">): string[] {
  const { pki } = cfg;
  return [
    "--etcd-servers", cfg.etcdUrl,
    "--bind-address", "127.0.0.1",
    "--advertise-address", "127.0.0.1",
    "--secure-port", String(cfg.port),
    "--tls-cert-file", pki.apiserverCert,
    "--tls-private-key-file", pki.apiserverKey,
    "--client-ca-file", pki.caCert,
    "--authorization-mode", "RBAC",
    // Anonymous requests are refused outright, so "forbidden" in a test means RBAC said no, not "who are you".
    "--anonymous-auth=false",
    "--service-account-issuer", serviceAccountIssuer,
    "--service-account-key-file", pki.serviceAccountPub,
    "--service-account-signing-key-file", pki.serviceAccountKey,
    "--service-cluster-ip-range", serviceClusterIpRange,
    "--allow-privileged=true",
    // There are no kubelets to reach and no other apiservers to share load with.
    "--endpoint-reconciler-type", "none",
    "--enable-priority-and-fairness=false",
    "--profiling=false",
    "--event-ttl", "1h",
    "-v", "1",
  ];
}

/** Starts kube-apiserver and waits until /readyz passes (its post-start hooks, RBAC bootstrap included). */
export async function startApiserver(cfg: ApiserverConfig): Promise<{ url: string; record: ProcessRecord }> {
  const record = startProcess(cfg.dir, "kube-apiserver", tool("kube-apiserver"), apiserverArgs(cfg), {
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    dieWithParent: cfg.dieWithParent,
  });
  const url = `https://127.0.0.1:${cfg.port}`;
  await waitForApiserver(url, cfg.pki, { timeoutMs: 90_000, abortIf: exitedWithLog(cfg.dir, record) });
  return { url, record };
}

export async function waitForApiserver(url: string, pki: Pki, o: { timeoutMs: number; abortIf?: () => string | undefined }): Promise<void> {
  const tls = { ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) };
  await waitFor("kube-apiserver /readyz", async () => (await probeGet(`${url}/readyz`, tls)).status === 200, { ...o, intervalMs: 200 });
}
