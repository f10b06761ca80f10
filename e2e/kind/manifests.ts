// What `make e2e-kind` puts into the kind cluster besides the chart: Azurite (from the Node image,
// azurite from npm, TLS from a Secret, the same flags and compatibility shim as the local cluster's
// emulator) and short-lived pods of the project's image. Pure builders.
//
// The Azure URL is always https://<account>.blob.<suffix>. In-cluster DNS answers
// <service>.<namespace>.svc.cluster.local, so a Service named after the account in a namespace named
// "blob" with the suffix "svc.cluster.local" is exactly the host restic and the SDKs ask for.
import { azuriteArgs } from "../cluster/azurite.ts";

export const AZURITE_NAMESPACE = "blob";
export const ENDPOINT_SUFFIX = "svc.cluster.local";
export const AZURITE_PORT = 10000;

/** The host name clients use, which the emulator's certificate must name. */
export const azuriteHost = (account: string) => `${account}.${AZURITE_NAMESPACE}.${ENDPOINT_SUFFIX}`;

type Obj = Record<string, unknown>;

const SHIM = "azurite-compat.ts";

/** The emulator's command line inside the pod: the local cluster's flags, with the pod's paths. */
export function azuriteCommand(): string[] {
  const local = azuriteArgs({ port: AZURITE_PORT, location: "/work/data", certFile: "/tls/tls.crt", keyFile: "/tls/tls.key" });
  return local.map((a) => {
    if (a.endsWith(SHIM)) return `/work/${SHIM}`;
    if (a.endsWith("azurite/dist/src/blob/main.js")) return "node_modules/azurite/dist/src/blob/main.js";
    if (a === "127.0.0.1") return "0.0.0.0";
    return a;
  });
}

export interface AzuriteSetup {
  account: string;
  key: string;
  tlsCert: string;
  tlsKey: string;
  /** Source of e2e/cluster/azurite-compat.ts. */
  shim: string;
  azuriteVersion: string;
  nodeImage: string;
}

export function azuriteManifests(s: AzuriteSetup): Obj[] {
  const ns = AZURITE_NAMESPACE;
  const labels = { app: "azurite" };
  const start = [
    "set -e",
    "cd /work",
    `npm install --no-save --no-audit --no-fund --loglevel=error azurite@${s.azuriteVersion}`,
    `cp /shim/${SHIM} /work/${SHIM}`,
    `exec node ${azuriteCommand().map((a) => `'${a}'`).join(" ")}`,
  ].join("\n");
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
    { apiVersion: "v1", kind: "Secret", metadata: { name: "azurite-tls", namespace: ns }, type: "kubernetes.io/tls", stringData: { "tls.crt": s.tlsCert, "tls.key": s.tlsKey } },
    { apiVersion: "v1", kind: "Secret", metadata: { name: "azurite-account", namespace: ns }, stringData: { AZURITE_ACCOUNTS: `${s.account}:${s.key}` } },
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "azurite-compat", namespace: ns }, data: { [SHIM]: s.shim } },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "azurite", namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [{
              name: "azurite",
              image: s.nodeImage,
              command: ["sh", "-c", start],
              env: [
                { name: "HOME", value: "/work" },
                { name: "AZURITE_ACCOUNTS", valueFrom: { secretKeyRef: { name: "azurite-account", key: "AZURITE_ACCOUNTS" } } },
              ],
              ports: [{ name: "blob", containerPort: AZURITE_PORT }],
              readinessProbe: { tcpSocket: { port: "blob" }, periodSeconds: 2 },
              volumeMounts: [
                { name: "work", mountPath: "/work" },
                { name: "tls", mountPath: "/tls", readOnly: true },
                { name: "shim", mountPath: "/shim", readOnly: true },
              ],
            }],
            volumes: [
              { name: "work", emptyDir: {} },
              { name: "tls", secret: { secretName: "azurite-tls" } },
              { name: "shim", configMap: { name: "azurite-compat" } },
            ],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: s.account, namespace: ns },
      spec: { selector: labels, ports: [{ name: "https", port: 443, targetPort: "blob" }] },
    },
  ];
}

/** A pod that runs one command to completion as the image's non-root user, with a PVC at /data. */
export function toolPod(o: { name: string; namespace: string; image: string; command: string[]; pvc?: string; env?: Obj[]; workingDir?: string }): Obj {
  const volumes: Obj[] = [];
  const mounts: Obj[] = [];
  if (o.pvc) {
    volumes.push({ name: "data", persistentVolumeClaim: { claimName: o.pvc } });
    mounts.push({ name: "data", mountPath: "/data" });
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      restartPolicy: "Never",
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 },
      containers: [{
        name: "main",
        image: o.image,
        imagePullPolicy: "Never",
        command: o.command,
        ...(o.workingDir ? { workingDir: o.workingDir } : {}),
        env: o.env ?? [],
        volumeMounts: mounts,
      }],
      volumes,
    },
  };
}

/** Creates a container with the SDK the image ships (what `az storage container create` does). */
export const CREATE_CONTAINER_SCRIPT = [
  'import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";',
  "const { ACCOUNT: a, KEY: k, SUFFIX: s, CONTAINER: c } = process.env;",
  "await new BlobServiceClient(`https://${a}.blob.${s}`, new StorageSharedKeyCredential(a, k)).getContainerClient(c).createIfNotExists();",
  "console.log(`container ${c} ready`);",
].join("\n");

/** The test image: the operator image trusting the emulator's CA (restic via the system store, Node via NODE_EXTRA_CA_CERTS). */
export function trustingDockerfile(baseImage: string): string {
  return [
    `FROM ${baseImage}`,
    "USER 0",
    "COPY ca.crt /usr/local/share/ca-certificates/blobstash-e2e-kind.crt",
    "RUN update-ca-certificates",
    "USER 65532:65532",
    "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/blobstash-e2e-kind.crt",
    "",
  ].join("\n");
}
