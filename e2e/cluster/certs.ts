import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";

/** Paths of everything the cluster's TLS needs, under <dir>/pki. */
export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  /** System roots plus our CA: what SSL_CERT_FILE points at, so tools keep trusting the rest of the world. */
  caBundle: string;
  apiserverCert: string;
  apiserverKey: string;
  adminCert: string;
  adminKey: string;
  controllerManagerCert: string;
  controllerManagerKey: string;
  schedulerCert: string;
  schedulerKey: string;
  /** The API server's client identity towards kubelets (logs, exec). */
  kubeletClientCert: string;
  kubeletClientKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  azuriteCert: string;
  azuriteKey: string;
}

export function pkiPaths(dir: string): Pki {
  const p = (f: string) => path.join(dir, "pki", f);
  return {
    dir: path.join(dir, "pki"),
    caCert: p("ca.crt"),
    caKey: p("ca.key"),
    caBundle: p("ca-bundle.crt"),
    apiserverCert: p("apiserver.crt"),
    apiserverKey: p("apiserver.key"),
    adminCert: p("admin.crt"),
    adminKey: p("admin.key"),
    controllerManagerCert: p("kube-controller-manager.crt"),
    controllerManagerKey: p("kube-controller-manager.key"),
    schedulerCert: p("kube-scheduler.crt"),
    schedulerKey: p("kube-scheduler.key"),
    kubeletClientCert: p("apiserver-kubelet-client.crt"),
    kubeletClientKey: p("apiserver-kubelet-client.key"),
    serviceAccountKey: p("sa.key"),
    serviceAccountPub: p("sa.pub"),
    azuriteCert: p("azurite.crt"),
    azuriteKey: p("azurite.key"),
  };
}

/** Host names the emulator answers to: restic and the SDK reach `<account>.blob.<suffix>`. */
export const azuriteHostNames = ["*.blob.localhost", "devstoreaccount1.blob.localhost", "localhost"];
export const apiserverHostNames = [
  "localhost",
  "kubernetes",
  "kubernetes.default",
  "kubernetes.default.svc",
  "kubernetes.default.svc.cluster.local",
];

const systemBundles = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];
// P-256 keys take milliseconds to generate where RSA takes a noticeable share of a cold start.
const keyArgs = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export interface Leaf {
  cert: string;
  key: string;
  subject: string;
  usage: "serverAuth" | "clientAuth";
  dns?: string[];
  ips?: string[];
}

/** The extension file for one leaf certificate (pure, so the SAN list can be checked without openssl). */
export function leafExtensions(leaf: Pick<Leaf, "usage" | "dns" | "ips">): string {
  const lines = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    `extendedKeyUsage=${leaf.usage}`,
  ];
  const sans = [...(leaf.dns ?? []).map((d) => `DNS:${d}`), ...(leaf.ips ?? []).map((i) => `IP:${i}`)];
  if (sans.length > 0) lines.push(`subjectAltName=${sans.join(",")}`);
  return lines.join("\n") + "\n";
}

/** Issues one leaf certificate signed by the cluster's CA (a node's kubelet and kube-proxy, say). */
export async function issue(pki: Pki, leaf: Leaf): Promise<void> {
  const csr = await execa("openssl", ["req", "-new", ...keyArgs, "-keyout", leaf.key, "-subj", leaf.subject]);
  const extFile = `${leaf.cert}.ext`;
  await writeFile(extFile, leafExtensions(leaf));
  await execa(
    "openssl",
    ["x509", "-req", "-CA", pki.caCert, "-CAkey", pki.caKey, "-days", "825", "-extfile", extFile, "-out", leaf.cert,
      "-set_serial", `0x${randomBytes(16).toString("hex")}`],
    { input: csr.stdout },
  );
}

async function createCa(pki: Pki): Promise<void> {
  await mkdir(pki.dir, { recursive: true, mode: 0o700 });
  await execa("openssl", [
    "req", "-x509", "-new", ...keyArgs, "-keyout", pki.caKey, "-out", pki.caCert, "-days", "3650",
    "-subj", `/CN=blobstash local CA ${randomBytes(4).toString("hex")}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

/**
 * A fresh CA under <dir>/pki and one server certificate for `dns` signed by it: for an emulator that
 * runs elsewhere than this machine's cluster (Azurite inside a kind cluster).
 */
export async function createServerCertificate(dir: string, dns: string[]): Promise<{ caCert: string; cert: string; key: string }> {
  const pki = pkiPaths(dir);
  await createCa(pki);
  const cert = path.join(pki.dir, "server.crt");
  const key = path.join(pki.dir, "server.key");
  await issue(pki, { cert, key, subject: `/CN=${dns[0]}`, usage: "serverAuth", dns });
  return { caCert: pki.caCert, cert, key };
}

/**
 * Generates a fresh CA and every certificate and key the cluster's control plane and Azurite use.
 * `apiserverIps`: where clients reach the API server (the host's bridge address, the `kubernetes`
 * Service's ClusterIP). Nodes get theirs when they start (node.ts).
 */
export async function createPki(dir: string, apiserverIps: string[]): Promise<Pki> {
  const pki = pkiPaths(dir);
  await createCa(pki);
  await Promise.all([
    issue(pki, {
      cert: pki.apiserverCert, key: pki.apiserverKey, subject: "/CN=kube-apiserver", usage: "serverAuth",
      dns: apiserverHostNames, ips: ["127.0.0.1", ...apiserverIps],
    }),
    issue(pki, { cert: pki.schedulerCert, key: pki.schedulerKey, subject: "/CN=system:kube-scheduler", usage: "clientAuth" }),
    issue(pki, { cert: pki.kubeletClientCert, key: pki.kubeletClientKey, subject: "/O=system:masters/CN=kube-apiserver-kubelet-client", usage: "clientAuth" }),
    issue(pki, { cert: pki.adminCert, key: pki.adminKey, subject: "/O=system:masters/CN=blobstash-admin", usage: "clientAuth" }),
    issue(pki, {
      cert: pki.controllerManagerCert, key: pki.controllerManagerKey, subject: "/CN=system:kube-controller-manager",
      usage: "clientAuth",
    }),
    issue(pki, {
      cert: pki.azuriteCert, key: pki.azuriteKey, subject: "/CN=devstoreaccount1.blob.localhost", usage: "serverAuth",
      dns: azuriteHostNames, ips: ["127.0.0.1"],
    }),
    (async () => {
      await execa("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", pki.serviceAccountKey]);
      await execa("openssl", ["pkey", "-in", pki.serviceAccountKey, "-pubout", "-out", pki.serviceAccountPub]);
    })(),
  ]);
  const system = systemBundles.find((f) => existsSync(f));
  const roots = system ? await readFile(system, "utf8") : "";
  await writeFile(pki.caBundle, roots + (roots.endsWith("\n") || roots === "" ? "" : "\n") + (await readFile(pki.caCert, "utf8")));
  return pki;
}
