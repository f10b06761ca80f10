import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { auditPolicyPath, startApiserver, waitForApiserver } from "./apiserver.ts";
import { etcdShmName, SHM, sweepDeadClusters } from "./sweep.ts";
import type { AzureFault } from "./azure-faults.ts";
import { startAzurite, stopAzurite } from "./azurite.ts";
import { createClusterCgroup, pidsIn, removeSubtree } from "./cgroups.ts";
import { createPki, pkiPaths, type Pki } from "./certs.ts";
import { startControllerManager } from "./controller-manager.ts";
import { renderEnvFile } from "./env-file.ts";
import { startEtcd } from "./etcd.ts";
import { probeGet } from "./https-probe.ts";
import { clusterImages, type ClusterImages } from "./images.ts";
import { holdKernelSettings, releaseKernelSettings } from "./kernel-settings.ts";
import { writeCertKubeconfig } from "./kubeconfig.ts";
import { createBridge, deleteBridge, freeOctet, nodeAddressing, planNetwork, SYSTEM_PATH, type NetworkPlan, type NodeAddressing } from "./network.ts";
import { importNodeImage, killNode, nodeProcessNames, startNode, stopNode } from "./node.ts";
import { nodeLayout } from "./node-config.ts";
import { freePort } from "./ports.ts";
import { startScheduler } from "./scheduler.ts";
import { readState, stateFile, writeState, type ClusterState } from "./state.ts";
import { exitedWithLog, isRunning, killAllNow, readRecord, readRecords, startProcess, stopAll, stopProcess } from "./supervisor.ts";
import { nodeBinary, pathPrefix, tool } from "./tools.ts";
import { waitFor } from "./wait.ts";

export interface ClusterOptions {
  dir: string;
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
  azurite: {
    account: string; key: string; endpointSuffix: string; caFile: string; port: number; stop(): Promise<void>; start(): Promise<void>;
    /** Has the CONNECT proxy answer every request to Azurite with this 5xx (undefined: forward again); see azure-faults.ts. */
    fault(fault: AzureFault | undefined): Promise<void>;
    /** Paces uploads from one source address (a pod's IP) to the emulator to `bytesPerSecond` (0 lifts it): a slow uplink. Returns the bytes that source sent so far. */
    throttle(from: string, bytesPerSecond: number): Promise<number>;
  };
  /** Stops etcd (SIGTERM) and starts it again on its data, as a restarted control-plane host would. */
  restartEtcd(downMs?: number): Promise<void>;
  /** Stops kube-apiserver (SIGTERM) and starts it again with the same flags; resolves once /readyz passes. */
  restartApiserver(downMs?: number): Promise<void>;
  /** The bridge, the host's address on it (where pods reach the API server and the proxy), Service and pod ranges. */
  network: NetworkPlan;
  /** The HTTPS proxy as pods reach it: http://<host address>:<port>. */
  podProxyUrl: string;
  nodes: NodeAddressing[];
  /** Images every node holds: the project's, the toolbox, the sandbox. */
  images: ClusterImages;
  /** Kills a node's kubelet, containerd, kube-proxy and every container at once, as a power cut would. */
  killNode(name: string): Promise<void>;
  /** Starts a killed node again (its containerd keeps its images on disk); resolves once it is Ready. */
  restartNode(name: string): Promise<void>;
  pids(): Record<string, number>;
  stop(): Promise<void>;
}

export const account = "devstoreaccount1";
/** Two nodes, so where a pod lands can be tested. */
export const NODE_NAMES = ["blobstash-node-1", "blobstash-node-2"];
/** Processes every healthy cluster has, nodes included. */
export const coreProcesses = ["etcd", "proxy", "azurite", "kube-apiserver", "kube-controller-manager", "kube-scheduler", ...NODE_NAMES.flatMap(nodeProcessNames)];

const paths = (dir: string) => ({
  kubeconfig: path.join(dir, "kubeconfig"),
  controllerManagerKubeconfig: path.join(dir, "kube-controller-manager.kubeconfig"),
  schedulerKubeconfig: path.join(dir, "kube-scheduler.kubeconfig"),
  nodesDir: path.join(dir, "nodes"),
  azuriteData: path.join(dir, "azurite"),
  envFile: path.join(dir, "env"),
});

/** etcd's data goes to tmpfs when the machine has a writable one (it is thrown away with the cluster anyway). */
function etcdDataDir(dir: string, id: string): string {
  try {
    accessSync(SHM, constants.W_OK);
    return path.join(SHM, etcdShmName(id));
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
    // The API server (on the bridge) and pods go direct; the proxy only tunnels to *.localhost.
    NO_PROXY: `127.0.0.1,${planNetwork(state.id, state.octet).clusterCidr}`,
    BLOBSTASH_STATE_DIR: dir,
  };
}

function startProxy(dir: string, port: number, hosts: string[], azurite: { port: number; cert: string; key: string }, dieWithParent: boolean | undefined) {
  const args = [
    path.join(import.meta.dirname, "connect-proxy-main.ts"), "--port", String(port), ...hosts.flatMap((h) => ["--host", h]),
    "--fault-port", String(azurite.port), "--fault-cert", azurite.cert, "--fault-key", azurite.key,
  ];
  return startProcess(dir, "proxy", nodeBinary(), args, {
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function makeCluster(dir: string, state: ClusterState, dieWithParent: boolean | undefined): Cluster {
  const pki = pkiPaths(dir);
  const p = paths(dir);
  const network = planNetwork(state.id, state.octet);
  const azuriteConfig = {
    dir, port: state.ports.azurite, location: p.azuriteData, certFile: pki.azuriteCert, keyFile: pki.azuriteKey,
    caFile: pki.caCert, account: state.azurite.account, key: state.azurite.key, node: nodeBinary(), dieWithParent,
  };
  return {
    dir,
    kubeconfig: p.kubeconfig,
    apiServerUrl: `https://${network.hostIp}:${state.ports.apiserver}`,
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
      fault: async (fault) => {
        const res = await fetch(`http://127.0.0.1:${state.ports.proxy}/fault`, { method: "PUT", body: JSON.stringify(fault ?? {}) });
        if (!res.ok) throw new Error(`proxy fault switch: HTTP ${res.status}: ${await res.text()}`);
      },
      throttle: async (from, bytesPerSecond) => {
        const res = await fetch(`http://127.0.0.1:${state.ports.proxy}/throttle`, { method: "PUT", body: JSON.stringify({ from, bytesPerSecond }) });
        if (!res.ok) throw new Error(`proxy throttle switch: HTTP ${res.status}: ${await res.text()}`);
        return ((await res.json()) as { sent: number }).sent;
      },
    },
    restartEtcd: async (downMs = 0) => {
      await stopProcess(dir, "etcd");
      await sleep(downMs);
      await startEtcd({ dir, dataDir: state.etcdDataDir, clientPort: state.ports.etcdClient, peerPort: state.ports.etcdPeer, dieWithParent });
    },
    restartApiserver: async (downMs = 0) => {
      await stopProcess(dir, "kube-apiserver");
      await sleep(downMs);
      await startApiserver({
        dir, pki, etcdUrl: `http://127.0.0.1:${state.ports.etcdClient}`, address: network.hostIp, port: state.ports.apiserver, serviceCidr: network.serviceCidr, dieWithParent,
      });
    },
    network,
    podProxyUrl: `http://${network.hostIp}:${state.ports.proxy}`,
    nodes: state.nodes,
    images: state.images,
    killNode: (name) => killNode(dir, state.cgroup.root, name),
    restartNode: async (name) => {
      const node = state.nodes.find((n) => n.name === name);
      if (!node) throw new Error(`no node ${name}`);
      await startNode({
        clusterDir: dir, pki, plan: network, node, allNodes: state.nodes, apiServerUrl: `https://${network.hostIp}:${state.ports.apiserver}`,
        cgroupRoot: state.cgroup.root, sandboxImage: state.images.pause, images: state.images.archives, dieWithParent,
      });
    },
    pids: () => Object.fromEntries(readRecords(dir).map((r) => [r.name, r.pid])),
    stop: () => teardown(dir, state),
  };
}

/** Host directories of this cluster's hostPath volumes (the provisioner makes them under /tmp), read from the API. */
async function hostPathVolumes(kubeconfig: string): Promise<string[]> {
  const r = await execa(tool("kubectl"), ["--kubeconfig", kubeconfig, "get", "pv", "-o", "jsonpath={range .items[*]}{.spec.hostPath.path}{\"\\n\"}{end}", "--request-timeout=5s"], { reject: false });
  return r.exitCode === 0 ? r.stdout.split("\n").filter((d) => d.startsWith("/tmp/hostpath_pv/")) : [];
}

/**
 * Stops nodes (and every container), then the rest, and undoes what the cluster changed on the
 * machine: hostPath volume directories, the bridge (its routes go with it), the cgroups, kubelet's
 * kernel settings (once no other local cluster holds them), etcd's tmpfs data.
 */
async function teardown(dir: string, state: ClusterState): Promise<void> {
  const volumes = readRecords(dir).some((r) => r.name === "kube-apiserver" && isRunning(r)) ? await hostPathVolumes(paths(dir).kubeconfig) : [];
  const errors: string[] = [];
  if (state.cgroup.root) for (const node of state.nodes) await stopNode(dir, state.cgroup.root, node.name).catch((e: Error) => errors.push(e.message));
  await stopAll(dir);
  for (const v of volumes) rmSync(v, { recursive: true, force: true });
  try {
    rmdirSync("/tmp/hostpath_pv");
  } catch {
    // not empty (another cluster's volumes) or never made
  }
  await deleteBridge(planNetwork(state.id, state.octet), state.nodes.map((n) => n.hostVeth)).catch((e: Error) => errors.push(e.message));
  // An empty root means the cluster never got its cgroup (a start that failed early): there is nothing to remove.
  if (state.cgroup.root) removeSubtree(state.cgroup.root, state.cgroup.created);
  releaseKernelSettings(state.id);
  rmSync(state.etcdDataDir, { recursive: true, force: true });
  if (errors.length > 0) throw new Error(`cluster stop: ${errors.join("; ")}`);
}

/**
 * Starts a real cluster on this machine: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
 * two nodes (containerd, kubelet, kube-proxy each; node.ts) on a bridge of their own, a default
 * StorageClass, Azurite (TLS) and its CONNECT proxy, with state, logs and PIDs under opts.dir and
 * the images every node needs imported. Writes <dir>/env. On failure stops what it started.
 */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const dir = path.resolve(opts.dir);
  const log = opts.log ?? (() => undefined);
  const t0 = Date.now();
  const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
  mkdirSync(dir, { recursive: true });
  if (readRecords(dir).some(isRunning)) throw new Error(`processes recorded in ${dir}/pids still run; stop them first (cli.ts down)`);
  await stopAll(dir); // clears stale records of dead processes
  for (const stale of [stateFile(dir), pkiPaths(dir).dir, paths(dir).nodesDir]) rmSync(stale, { recursive: true, force: true });

  const swept = await sweepDeadClusters();
  if (swept.length > 0) log(`removed what killed runs left behind: clusters ${swept.join(", ")}`);
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler, azurite, proxy] = await Promise.all(Array.from({ length: 7 }, freePort));
  const id = randomBytes(3).toString("hex");
  const octet = await freeOctet();
  const network = planNetwork(id, octet);
  const images = clusterImages({ log });
  const state: ClusterState = {
    version: 2,
    id,
    octet,
    createdAt: new Date().toISOString(),
    ports: {
      etcdClient: etcdClient!, etcdPeer: etcdPeer!, apiserver: apiserver!, controllerManager: controllerManager!, scheduler: scheduler!,
      azurite: azurite!, proxy: proxy!,
    },
    etcdDataDir: etcdDataDir(dir, id),
    azurite: { account, key: randomBytes(64).toString("base64") },
    nodes: NODE_NAMES.map((name, i) => nodeAddressing(network, id, i, name)),
    cgroup: { root: "", created: [] },
    images: { blobstash: "", toolbox: "", pause: "", archives: [] },
  };
  writeState(dir, state);
  const cluster = makeCluster(dir, state, opts.dieWithParent);
  const p = paths(dir);
  try {
    let t = Date.now();
    // The holder first: it marks the cluster alive (sweep.ts) before anything of it exists.
    holdKernelSettings(id);
    await createBridge(network);
    state.cgroup = createClusterCgroup(id);
    writeState(dir, state);
    const pki = await createPki(dir, [network.hostIp, network.kubernetesServiceIp]);
    log(`network ${network.clusterCidr} on ${network.bridge}, certificates ready (${since(t)})`);

    const dieWithParent = opts.dieWithParent;
    startProxy(dir, state.ports.proxy, ["127.0.0.1", network.hostIp], { port: state.ports.azurite, cert: pki.azuriteCert, key: pki.azuriteKey }, dieWithParent);
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
      const api = await startApiserver({
        dir, pki, etcdUrl: etcd.url, address: network.hostIp, port: state.ports.apiserver, serviceCidr: network.serviceCidr, dieWithParent,
      });
      log(`kube-apiserver ready on ${api.url} (${since(t)})`);
      await writeCertKubeconfig(p.kubeconfig, { server: api.url, caFile: pki.caCert, certFile: pki.adminCert, keyFile: pki.adminKey, name: "blobstash-local" });
      await writeCertKubeconfig(p.controllerManagerKubeconfig, {
        server: api.url, caFile: pki.caCert, certFile: pki.controllerManagerCert, keyFile: pki.controllerManagerKey, name: "kube-controller-manager",
      });
      await writeCertKubeconfig(p.schedulerKubeconfig, {
        server: api.url, caFile: pki.caCert, certFile: pki.schedulerCert, keyFile: pki.schedulerKey, name: "kube-scheduler",
      });
      // Before any pod: a pod created ahead of its claim's StorageClass stays unschedulable long after the claim binds.
      await execa(tool("kubectl"), ["--kubeconfig", p.kubeconfig, "apply", "-f", "-"], { input: DEFAULT_STORAGE_CLASS });
      t = Date.now();
      await Promise.all([
        startControllerManager({ dir, pki, kubeconfig: p.controllerManagerKubeconfig, port: state.ports.controllerManager, dieWithParent }),
        startScheduler({ dir, pki, kubeconfig: p.schedulerKubeconfig, port: state.ports.scheduler, dieWithParent }),
      ]);
      log(`kube-controller-manager and kube-scheduler ready (${since(t)})`);
    })();
    const imagesReady = (async () => {
      const ti = Date.now();
      state.images = await images;
      writeState(dir, state);
      log(`images ready: ${state.images.blobstash}, ${state.images.toolbox}, ${state.images.pause} (${since(ti)})`);
    })();
    // Every half runs to completion before a failure is reported, so nothing is still starting when we clean up.
    const results = await Promise.allSettled([emulator, controlPlane, imagesReady]);
    for (const r of results) if (r.status === "rejected") throw r.reason;

    t = Date.now();
    await Promise.all(state.nodes.map((node) => startNode({
      clusterDir: dir, pki, plan: network, node, allNodes: state.nodes, apiServerUrl: cluster.apiServerUrl, cgroupRoot: state.cgroup.root,
      sandboxImage: state.images.pause, images: state.images.archives, dieWithParent, log,
    })));
    log(`nodes ${state.nodes.map((n) => `${n.name} (${n.ip})`).join(", ")} Ready (${since(t)})`);
    writeFileSync(p.envFile, renderEnvFile(cluster.env, pathPrefix()), { mode: 0o600 });
    log(`cluster up in ${since(t0)}`);
    return makeCluster(dir, state, opts.dieWithParent);
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw err;
  }
}

const DEFAULT_STORAGE_CLASS = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
`;

/**
 * Builds the images again where their inputs changed and imports whatever is new into every node
 * (containerd's import is idempotent), so a code change reaches a running cluster. Returns the
 * cluster with the current image references.
 */
export async function refreshImages(cluster: Cluster, log: (line: string) => void = () => undefined): Promise<Cluster> {
  const state = readState(cluster.dir);
  if (!state) throw new Error(`no cluster state in ${cluster.dir}`);
  const images = await clusterImages({ log });
  const known = new Set(state.images.archives);
  const fresh = images.archives.filter((a) => !known.has(a));
  for (const node of state.nodes) for (const archive of fresh) await importNodeImage(nodeLayout(cluster.dir, node.name), archive);
  if (fresh.length > 0) log(`imported ${fresh.length} new image(s) into ${state.nodes.length} nodes`);
  state.images = images;
  writeState(cluster.dir, state);
  return makeCluster(cluster.dir, state, false);
}

/** Reuses the cluster recorded in dir when every one of its processes runs and answers; undefined otherwise. */
export async function attachCluster(dir: string): Promise<Cluster | undefined> {
  dir = path.resolve(dir);
  const state = readState(dir);
  if (!state) return undefined;
  for (const name of coreProcesses) {
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

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * What stop() does, done synchronously and without asking the API server: for a test run that ends
 * without reaching stop() (an 'exit' handler, where nothing can be awaited). Kills every recorded
 * process and everything in the nodes' cgroups (containers included), deletes the bridge, removes
 * the cgroups, gives back the kernel settings and etcd's tmpfs data. Never throws.
 */
export function teardownNow(dir: string): void {
  killAllNow(dir);
  const state = readState(dir);
  if (!state) return;
  if (state.cgroup.root) {
    for (let i = 0; i < 100 && pidsIn(state.cgroup.root).length > 0; i++) {
      for (const pid of pidsIn(state.cgroup.root)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
      pause(50);
    }
    removeSubtree(state.cgroup.root, state.cgroup.created);
  }
  for (const link of [...state.nodes.map((n) => n.hostVeth), planNetwork(state.id, state.octet).bridge]) {
    try {
      execFileSync("ip", ["link", "del", link], { stdio: "ignore", env: { PATH: SYSTEM_PATH } });
    } catch {
      // not there
    }
  }
  releaseKernelSettings(state.id);
  rmSync(state.etcdDataDir, { recursive: true, force: true });
}

/**
 * Stops every process recorded in dir (whether or not the cluster is healthy), nodes and their
 * containers first, confirms each is gone, undoes the cluster's changes to the machine and removes its
 * data (etcd tmpfs, emulator blobs, node state, certificates, env). Logs stay for post-mortems.
 * Returns the names and PIDs it stopped.
 */
export async function downCluster(dir: string): Promise<Record<string, number>> {
  dir = path.resolve(dir);
  const records = readRecords(dir);
  const state = readState(dir);
  if (state) await teardown(dir, state);
  await stopAll(dir);
  const survivors = records.filter(isRunning);
  if (survivors.length > 0) throw new Error(`still running after stop: ${survivors.map((r) => `${r.name} (${r.pid})`).join(", ")}`);
  const p = paths(dir);
  const leftovers = [
    state?.etcdDataDir, path.join(dir, "etcd"), p.azuriteData, p.nodesDir, pkiPaths(dir).dir, p.kubeconfig,
    p.controllerManagerKubeconfig, p.schedulerKubeconfig, p.envFile, stateFile(dir), path.join(dir, "pids"), auditPolicyPath(dir),
  ];
  for (const f of leftovers) if (f) rmSync(f, { recursive: true, force: true });
  return Object.fromEntries(records.map((r) => [r.name, r.pid]));
}
