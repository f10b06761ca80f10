import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startApiserver, waitForApiserver } from "./apiserver.ts";
import { startAzurite, stopAzurite } from "./azurite.ts";
import { createPki, pkiPaths, type Pki } from "./certs.ts";
import { startControllerManager } from "./controller-manager.ts";
import { renderEnvFile } from "./env-file.ts";
import { startEtcd } from "./etcd.ts";
import { probeGet } from "./https-probe.ts";
import { writeCertKubeconfig } from "./kubeconfig.ts";
import { nodeAgentAvailable, startNodeAgent } from "./node-agent.ts";
import { freePort } from "./ports.ts";
import { readState, stateFile, writeState, type ClusterState } from "./state.ts";
import { exitedWithLog, isRunning, readRecord, readRecords, startProcess, stopAll } from "./supervisor.ts";
import { nodeBinary, pathPrefix } from "./tools.ts";
import { waitFor } from "./wait.ts";

export interface ClusterOptions {
  dir: string;
  nodeAgent?: boolean;
  log?: (line: string) => void;
  /**
   * Processes die with the Node process that started them (tests: nothing survives a killed test run).
   * Leave off for `make up`, whose processes must outlive the CLI.
   */
  dieWithParent?: boolean;
}

export interface Cluster {
  dir: string;
  kubeconfig: string;
  apiServerUrl: string;
  /** Exactly what <dir>/env exports (PATH there is the tool prefix in front of the sourcing shell's PATH). */
  env: Record<string, string>;
  azurite: { account: string; key: string; endpointSuffix: string; caFile: string; port: number; stop(): Promise<void>; start(): Promise<void> };
  pvcRoot: string;
  pids(): Record<string, number>;
  stop(): Promise<void>;
}

export const account = "devstoreaccount1";
/** Processes every healthy cluster has; the node agent joins them when it was started. */
export const coreProcesses = ["etcd", "proxy", "azurite", "kube-apiserver", "kube-controller-manager"];

const paths = (dir: string) => ({
  kubeconfig: path.join(dir, "kubeconfig"),
  controllerManagerKubeconfig: path.join(dir, "kube-controller-manager.kubeconfig"),
  pvcRoot: path.join(dir, "pvc"),
  nodeWorkDir: path.join(dir, "node"),
  azuriteData: path.join(dir, "azurite"),
  envFile: path.join(dir, "env"),
});

/** etcd's data goes to tmpfs when the machine has a writable one (it is thrown away with the cluster anyway). */
function etcdDataDir(dir: string): string {
  try {
    accessSync("/dev/shm", constants.W_OK);
    return path.join("/dev/shm", `blobstash-etcd-${randomBytes(6).toString("hex")}`);
  } catch {
    return path.join(dir, "etcd");
  }
}

function clusterEnv(dir: string, pki: Pki, state: ClusterState): Record<string, string> {
  return {
    KUBECONFIG: paths(dir).kubeconfig,
    PATH: [...pathPrefix(), process.env.PATH ?? ""].join(":"),
    AZURE_ACCOUNT_NAME: state.azurite.account,
    AZURE_ACCOUNT_KEY: state.azurite.key,
    AZURE_ENDPOINT_SUFFIX: `localhost:${state.ports.azurite}`,
    SSL_CERT_FILE: pki.caBundle,
    RESTIC_CACERT: pki.caCert,
    NODE_EXTRA_CA_CERTS: pki.caCert,
    // `<account>.blob.localhost` resolves nowhere; the loopback CONNECT proxy gets it to Azurite.
    HTTPS_PROXY: `http://127.0.0.1:${state.ports.proxy}`,
    // The kube API (127.0.0.1) goes direct; Go skips the proxy for loopback IPs anyway, Node's SDKs need telling.
    NO_PROXY: "127.0.0.1",
    BLOBSTASH_STATE_DIR: dir,
  };
}

/** What node-agent-run processes (Job pods) see from the node: proxy, CA trust, tools. Not the emulator key. */
function nodeEnv(env: Record<string, string>): Record<string, string> {
  const keys = ["PATH", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "RESTIC_CACERT", "NODE_EXTRA_CA_CERTS", "BLOBSTASH_STATE_DIR"];
  return { HOME: process.env.HOME ?? "/root", ...Object.fromEntries(keys.map((k) => [k, env[k]!])) };
}

function startProxy(dir: string, port: number, dieWithParent: boolean | undefined) {
  return startProcess(dir, "proxy", nodeBinary(), [path.join(import.meta.dirname, "connect-proxy-main.ts"), "--port", String(port)], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    dieWithParent,
  });
}

async function waitForProxy(dir: string, port: number): Promise<void> {
  const record = readRecord(dir, "proxy");
  await waitFor("CONNECT proxy /healthz", async () => (await probeGet(`http://127.0.0.1:${port}/healthz`)).status === 200, {
    timeoutMs: 20_000, abortIf: record ? exitedWithLog(dir, record) : undefined,
  });
}

function makeCluster(dir: string, state: ClusterState, dieWithParent: boolean | undefined): Cluster {
  const pki = pkiPaths(dir);
  const p = paths(dir);
  const azuriteConfig = {
    dir, port: state.ports.azurite, location: p.azuriteData, certFile: pki.azuriteCert, keyFile: pki.azuriteKey,
    caFile: pki.caCert, account: state.azurite.account, key: state.azurite.key, node: nodeBinary(), dieWithParent,
  };
  return {
    dir,
    kubeconfig: p.kubeconfig,
    apiServerUrl: `https://127.0.0.1:${state.ports.apiserver}`,
    env: clusterEnv(dir, pki, state),
    azurite: {
      account: state.azurite.account,
      key: state.azurite.key,
      endpointSuffix: `localhost:${state.ports.azurite}`,
      caFile: pki.caCert,
      port: state.ports.azurite,
      stop: () => stopAzurite(dir),
      start: async () => {
        await startAzurite(azuriteConfig);
      },
    },
    pvcRoot: p.pvcRoot,
    pids: () => Object.fromEntries(readRecords(dir).map((r) => [r.name, r.pid])),
    stop: async () => {
      await stopAll(dir);
      rmSync(state.etcdDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, Azurite (TLS), the CONNECT proxy and (when
 * e2e/node-agent/main.ts exists and opts.nodeAgent !== false) the node agent, all on free loopback
 * ports, with state, logs and PIDs under opts.dir. Writes <dir>/env. On failure stops what it started.
 */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const dir = path.resolve(opts.dir);
  const log = opts.log ?? (() => undefined);
  const t0 = Date.now();
  const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
  mkdirSync(dir, { recursive: true });
  if (readRecords(dir).some(isRunning)) throw new Error(`processes recorded in ${dir}/pids still run; stop them first (cli.ts down)`);
  await stopAll(dir); // clears stale records of dead processes
  for (const stale of [stateFile(dir), pkiPaths(dir).dir]) rmSync(stale, { recursive: true, force: true });

  const [etcdClient, etcdPeer, apiserver, controllerManager, azurite, proxy] = await Promise.all(Array.from({ length: 6 }, freePort));
  const state: ClusterState = {
    version: 1,
    createdAt: new Date().toISOString(),
    ports: { etcdClient: etcdClient!, etcdPeer: etcdPeer!, apiserver: apiserver!, controllerManager: controllerManager!, azurite: azurite!, proxy: proxy! },
    etcdDataDir: etcdDataDir(dir),
    azurite: { account, key: randomBytes(64).toString("base64") },
    nodeAgent: opts.nodeAgent !== false && nodeAgentAvailable(),
  };
  writeState(dir, state);
  const cluster = makeCluster(dir, state, opts.dieWithParent);
  const p = paths(dir);
  try {
    let t = Date.now();
    const pki = await createPki(dir);
    log(`certificates ready (${since(t)})`);

    const dieWithParent = opts.dieWithParent;
    startProxy(dir, state.ports.proxy, dieWithParent);
    const emulator = (async () => {
      const ta = Date.now();
      await cluster.azurite.start();
      await waitForProxy(dir, state.ports.proxy);
      log(`Azurite ready on https://${account}.blob.localhost:${state.ports.azurite} via proxy 127.0.0.1:${state.ports.proxy} (${since(ta)})`);
    })();
    const controlPlane = (async () => {
      t = Date.now();
      const etcd = await startEtcd({ dir, dataDir: state.etcdDataDir, clientPort: state.ports.etcdClient, peerPort: state.ports.etcdPeer, dieWithParent });
      log(`etcd ready on ${etcd.url} (${since(t)})`);
      t = Date.now();
      const api = await startApiserver({ dir, pki, etcdUrl: etcd.url, port: state.ports.apiserver, dieWithParent });
      log(`kube-apiserver ready on ${api.url} (${since(t)})`);
      await writeCertKubeconfig(p.kubeconfig, { server: api.url, caFile: pki.caCert, certFile: pki.adminCert, keyFile: pki.adminKey, name: "blobstash-local" });
      await writeCertKubeconfig(p.controllerManagerKubeconfig, {
        server: api.url, caFile: pki.caCert, certFile: pki.controllerManagerCert, keyFile: pki.controllerManagerKey, name: "kube-controller-manager",
      });
      t = Date.now();
      await startControllerManager({ dir, pki, kubeconfig: p.controllerManagerKubeconfig, port: state.ports.controllerManager, dieWithParent });
      log(`kube-controller-manager ready (${since(t)})`);
    })();
    // Both halves run to completion before a failure is reported, so nothing is still starting when we clean up.
    const results = await Promise.allSettled([emulator, controlPlane]);
    for (const r of results) if (r.status === "rejected") throw r.reason;

    if (state.nodeAgent) {
      t = Date.now();
      await startNodeAgent({
        dir, pki, apiServerUrl: cluster.apiServerUrl, kubeconfig: p.kubeconfig, pvcRoot: p.pvcRoot, workDir: p.nodeWorkDir,
        env: nodeEnv(cluster.env), dieWithParent,
      });
      log(`node agent ready (${since(t)})`);
    } else {
      log(opts.nodeAgent === false ? "node agent not requested" : "node agent not started: e2e/node-agent/main.ts does not exist yet");
    }
    mkdirSync(p.pvcRoot, { recursive: true });
    writeFileSync(p.envFile, renderEnvFile(cluster.env, pathPrefix()), { mode: 0o600 });
    log(`cluster up in ${since(t0)}`);
    return cluster;
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw err;
  }
}

/** Reuses the cluster recorded in dir when every one of its processes runs and answers; undefined otherwise. */
export async function attachCluster(dir: string): Promise<Cluster | undefined> {
  dir = path.resolve(dir);
  const state = readState(dir);
  if (!state) return undefined;
  const expected = [...coreProcesses, ...(state.nodeAgent ? ["node-agent"] : [])];
  for (const name of expected) {
    const record = readRecord(dir, name);
    if (!record || !isRunning(record)) return undefined;
  }
  const pki = pkiPaths(dir);
  const cluster = makeCluster(dir, state, false);
  try {
    await waitForApiserver(cluster.apiServerUrl, pki, { timeoutMs: 5000 });
    const ca = readFileSync(pki.caCert);
    const az = await probeGet(`https://127.0.0.1:${state.ports.azurite}/${account}?comp=list`, { ca, servername: `${account}.blob.localhost` });
    const proxy = await probeGet(`http://127.0.0.1:${state.ports.proxy}/healthz`);
    if (az.status === 0 || proxy.status !== 200) return undefined;
  } catch {
    return undefined;
  }
  return cluster;
}

/**
 * Stops every process recorded in dir (whether or not the cluster is healthy), confirms each is gone,
 * and removes the cluster's data (etcd tmpfs, emulator blobs, PVC directories, certificates, env).
 * Logs stay for post-mortems. Returns the names and PIDs it stopped.
 */
export async function downCluster(dir: string): Promise<Record<string, number>> {
  dir = path.resolve(dir);
  const records = readRecords(dir);
  await stopAll(dir);
  const survivors = records.filter(isRunning);
  if (survivors.length > 0) throw new Error(`still running after stop: ${survivors.map((r) => `${r.name} (${r.pid})`).join(", ")}`);
  const state = readState(dir);
  const p = paths(dir);
  const leftovers = [
    state?.etcdDataDir, path.join(dir, "etcd"), p.azuriteData, p.pvcRoot, p.nodeWorkDir, pkiPaths(dir).dir, p.kubeconfig,
    p.controllerManagerKubeconfig, p.envFile, stateFile(dir), path.join(dir, "pids"),
  ];
  for (const f of leftovers) if (f) rmSync(f, { recursive: true, force: true });
  return Object.fromEntries(records.map((r) => [r.name, r.pid]));
}
