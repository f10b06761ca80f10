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
  /** The host's address on the cluster bridge: where the host, kubelets and pods (via the kubernetes Service) reach it. */
  address: string;
  port: number;
  serviceCidr: string;
  dieWithParent?: boolean;
}

export const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local";

export function apiserverArgs(cfg: Pick<ApiserverConfig, "pki" | "etcdUrl" | "port" | "address" | "serviceCidr">): string[] {
  const { pki } = cfg;
  return [
    "--etcd-servers", cfg.etcdUrl,
    // Only on the cluster bridge: nothing outside this machine's cluster reaches it.
    "--bind-address", cfg.address,
    "--advertise-address", cfg.address,
    "--secure-port", String(cfg.port),
    "--tls-cert-file", pki.apiserverCert,
    "--tls-private-key-file", pki.apiserverKey,
    "--client-ca-file", pki.caCert,
    // Node: kubelets read only what their own pods need (and NodeRestriction keeps them to their own Node).
    "--authorization-mode", "Node,RBAC",
    "--enable-admission-plugins", "NodeRestriction",
    "--kubelet-client-certificate", pki.kubeletClientCert,
    "--kubelet-client-key", pki.kubeletClientKey,
    "--kubelet-certificate-authority", pki.caCert,
    // Kubelets are reached by IP: resolving node names would send DNS queries off the machine.
    "--kubelet-preferred-address-types", "InternalIP",
    // Anonymous requests are refused outright, so "forbidden" in a test means RBAC said no, not "who are you".
    "--anonymous-auth=false",
    "--service-account-issuer", serviceAccountIssuer,
    "--service-account-key-file", pki.serviceAccountPub,
    "--service-account-signing-key-file", pki.serviceAccountKey,
    "--service-cluster-ip-range", cfg.serviceCidr,
    "--allow-privileged=true",
    // The `kubernetes` Service's endpoint is this API server's advertise address (the default "lease" reconciler).
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
  const url = `https://${cfg.address}:${cfg.port}`;
  await waitForApiserver(url, cfg.pki, { timeoutMs: 90_000, abortIf: exitedWithLog(cfg.dir, record) });
  return { url, record };
}

export async function waitForApiserver(url: string, pki: Pki, o: { timeoutMs: number; abortIf?: () => string | undefined }): Promise<void> {
  const tls = { ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) };
  await waitFor("kube-apiserver /readyz", async () => (await probeGet(`${url}/readyz`, tls)).status === 200, { ...o, intervalMs: 200 });
}
