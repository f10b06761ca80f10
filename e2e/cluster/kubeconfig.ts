import { readFile, writeFile } from "node:fs/promises";
import { stringify } from "yaml";

export type KubeUser = { clientCertPem: string; clientKeyPem: string } | { token: string };

export interface KubeconfigSpec {
  server: string;
  caPem: string;
  user: KubeUser;
  /** Names the cluster, user and context entries; shows up in `kubectl config current-context`. */
  name: string;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A self-contained kubeconfig (credentials embedded, so it keeps working wherever it is copied). */
export function kubeconfigYaml(spec: KubeconfigSpec): string {
  const user =
    "token" in spec.user
      ? { token: spec.user.token }
      : { "client-certificate-data": b64(spec.user.clientCertPem), "client-key-data": b64(spec.user.clientKeyPem) };
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: spec.name, cluster: { server: spec.server, "certificate-authority-data": b64(spec.caPem) } }],
    users: [{ name: spec.name, user }],
    contexts: [{ name: spec.name, context: { cluster: spec.name, user: spec.name, namespace: "default" } }],
    "current-context": spec.name,
    preferences: {},
  });
}

/** Writes a kubeconfig for a client certificate from PEM files. */
export async function writeCertKubeconfig(file: string, o: { server: string; caFile: string; certFile: string; keyFile: string; name: string }): Promise<void> {
  const [caPem, clientCertPem, clientKeyPem] = await Promise.all([o.caFile, o.certFile, o.keyFile].map((f) => readFile(f, "utf8")));
  await writeFile(file, kubeconfigYaml({ server: o.server, caPem: caPem!, name: o.name, user: { clientCertPem: clientCertPem!, clientKeyPem: clientKeyPem! } }), { mode: 0o600 });
}

/** Writes a kubeconfig that authenticates with a bearer token (e.g. one from the TokenRequest API). */
export async function writeTokenKubeconfig(file: string, o: { server: string; caFile: string; token: string; name: string }): Promise<void> {
  const caPem = await readFile(o.caFile, "utf8");
  await writeFile(file, kubeconfigYaml({ server: o.server, caPem, name: o.name, user: { token: o.token } }), { mode: 0o600 });
}
