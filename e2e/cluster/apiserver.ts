import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
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

/** The API server's audit policy (AUDIT_POLICY), removed with the cluster. */
export const auditPolicyPath = (dir: string) => path.join(dir, "audit-policy.json");

/** Where the API server writes the audit events of ServiceAccounts (e2e/audit/rbac.test.ts reads them). */
export const auditLogPath = (dir: string) => path.join(dir, "logs", "kube-apiserver-audit.log");

/**
 * The requests of ServiceAccounts outside kube-system, as JSON lines: the operators' requests tell
 * which permissions a run needed. Creates of what the operator owns by reference carry their
 * bodies (no Secret's: those stay at Metadata), for the owner's finalizers they need.
 */
export const AUDIT_POLICY = JSON.stringify({
  apiVersion: "audit.k8s.io/v1",
  kind: "Policy",
  omitStages: ["RequestReceived"],
  rules: [
    { level: "None", userGroups: ["system:serviceaccounts:kube-system"] },
    {
      level: "Request",
      userGroups: ["system:serviceaccounts"],
      verbs: ["create"],
      resources: [{ group: "batch", resources: ["jobs"] }, { group: "stash.appscode.com", resources: ["backupsessions"] }, { group: "repositories.stash.appscode.com", resources: ["snapshots"] }],
    },
    { level: "Metadata", userGroups: ["system:serviceaccounts"] },
    { level: "None" },
  ],
});

export function apiserverArgs(cfg: Pick<ApiserverConfig, "dir" | "pki" | "etcdUrl" | "port" | "address" | "serviceCidr">): string[] {
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
    // OwnerReferencesPermissionEnforcement as on OpenShift: owning an object with blockOwnerDeletion
    // needs update on the owner's finalizers, so the chart's grants for it are exercised.
    "--enable-admission-plugins", "NodeRestriction,OwnerReferencesPermissionEnforcement",
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
    "--audit-policy-file", auditPolicyPath(cfg.dir),
    "--audit-log-path", auditLogPath(cfg.dir),
    "--audit-log-format", "json",
    "--audit-log-maxbackup", "0",
    "-v", "1",
  ];
}

/** Starts kube-apiserver and waits until /readyz passes (its post-start hooks, RBAC bootstrap included). */
export async function startApiserver(cfg: ApiserverConfig): Promise<{ url: string; record: ProcessRecord }> {
  writeFileSync(auditPolicyPath(cfg.dir), AUDIT_POLICY);
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
