import { readFileSync } from "node:fs";
import tls from "node:tls";
import type { Cluster } from "./cluster.ts";

/** The variables of cluster.env that make this process behave like a shell that sourced <dir>/env, minus the emulator's credentials. */
export const processEnvKeys = ["KUBECONFIG", "PATH", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "RESTIC_CACERT", "NODE_EXTRA_CA_CERTS", "BLOBSTASH_STATE_DIR"];

/**
 * Makes this (already running) Node process use the cluster the way a process started from `. .local/env`
 * would: trusts the cluster CA for every TLS connection made from now on (NODE_EXTRA_CA_CERTS is only read
 * at start-up, so it is too late for that here), and sets the proxy, CA and PATH variables that Azure SDK
 * clients created later, and child processes such as restic, pick up. The account name and key are left
 * out on purpose: code under test must get credentials from where production gets them.
 */
export function useClusterInThisProcess(cluster: Cluster): void {
  const ca = readFileSync(cluster.azurite.caFile, "utf8");
  const current = tls.getCACertificates("default");
  if (!current.includes(ca)) tls.setDefaultCACertificates([...current, ca]);
  for (const key of processEnvKeys) process.env[key] = cluster.env[key];
}
