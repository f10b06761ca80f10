// What a node's daemons read: containerd's config, the CNI network, the KubeletConfiguration and the
// KubeProxyConfiguration. Pure functions of the node's layout, so the settings these machines need
// (see ../shared/DESIGN.md, "Facts") are checked by unit tests rather than found again at run time.

import { stringify } from "yaml";
import type { NodeAddressing, NetworkPlan } from "./network.ts";

/** Where a node keeps its state on the host, and the fixed paths its private mounts cover. */
export interface NodeLayout {
  /** <cluster dir>/nodes/<name> */
  dir: string;
  /** Bound over /run inside the node: containerd's socket and state, network namespaces. */
  run: string;
  /** Bound over /var/lib inside the node: /var/lib/kubelet (device-plugin socket path is fixed), /var/lib/cni. */
  varLib: string;
  /** Bound over /var/log inside the node: /var/log/pods and /var/log/containers. */
  varLog: string;
  containerdRoot: string;
  containerdConfig: string;
  cniConfDir: string;
  kubeletConfig: string;
  kubeletKubeconfig: string;
  kubeProxyConfig: string;
  kubeProxyKubeconfig: string;
  kubeletCert: string;
  kubeletKey: string;
}

/** The containerd socket as the node's processes see it (inside its private /run). */
export const CONTAINERD_SOCKET = "/run/containerd/containerd.sock";

export function nodeLayout(clusterDir: string, name: string): NodeLayout {
  const dir = `${clusterDir}/nodes/${name}`;
  return {
    dir,
    run: `${dir}/run`,
    varLib: `${dir}/var-lib`,
    varLog: `${dir}/var-log`,
    containerdRoot: `${dir}/containerd`,
    containerdConfig: `${dir}/containerd.toml`,
    cniConfDir: `${dir}/cni`,
    kubeletConfig: `${dir}/kubelet.yaml`,
    kubeletKubeconfig: `${dir}/kubelet.kubeconfig`,
    kubeProxyConfig: `${dir}/kube-proxy.yaml`,
    kubeProxyKubeconfig: `${dir}/kube-proxy.kubeconfig`,
    kubeletCert: `${dir}/kubelet.crt`,
    kubeletKey: `${dir}/kubelet.key`,
  };
}

/** The host path of the node's containerd socket (its /run is a bind of layout.run). */
export function hostContainerdSocket(layout: NodeLayout): string {
  return `${layout.run}/containerd/containerd.sock`;
}

const toml = (v: string) => JSON.stringify(v);

export function containerdConfig(o: { layout: NodeLayout; runc: string; cniBinDir: string; sandboxImage: string }): string {
  return `version = 4
root = ${toml(o.layout.containerdRoot)}
state = "/run/containerd"
# Snapshotters and tracing this machine has no use for (and some probe the kernel noisily).
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${toml(CONTAINERD_SOCKET)}

[ttrpc]
  address = "/run/containerd/containerd.sock.ttrpc"

[metrics]
  address = ""

[plugins.'io.containerd.cri.v1.runtime']
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails writing oom_score_adj.
  restrict_oom_score_adj = true
  tolerate_missing_hugetlb_controller = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${toml(o.cniBinDir)}]
    conf_dir = ${toml(o.layout.cniConfDir)}
    max_conf_num = 1
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${toml(o.runc)}
        SystemdCgroup = false

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${toml(o.sandboxImage)}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

/** The pod network of one node: a bridge inside the node's namespace, host-local addresses from its pod subnet. */
export function cniConfig(node: NodeAddressing): string {
  return JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: "blobstash",
      plugins: [
        {
          type: "bridge",
          bridge: "cni0",
          isGateway: true,
          // Pods keep their own source address: the host routes pod subnets back through the nodes.
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: node.podCidr, gateway: node.podGateway }]],
            routes: [{ dst: "0.0.0.0/0" }],
          },
        },
      ],
    },
    null,
    2,
  );
}

export function kubeletConfig(o: { layout: NodeLayout; node: NodeAddressing; caFile: string; cgroupRoot: string }): string {
  return stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: o.node.ip,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: 10248,
    tlsCertFile: o.layout.kubeletCert,
    tlsPrivateKeyFile: o.layout.kubeletKey,
    // Only the API server holds a client certificate of this cluster's CA.
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: o.caFile } },
    authorization: { mode: "AlwaysAllow" },
    containerRuntimeEndpoint: `unix://${CONTAINERD_SOCKET}`,
    cgroupDriver: "cgroupfs",
    cgroupRoot: o.cgroupRoot,
    // This machine has cgroup v1 and may have swap.
    failCgroupV1: false,
    failSwapOn: false,
    // No upstream resolver for pods: no DNS query leaves the machine.
    resolvConf: "",
    // Images are imported, never pulled: nothing may collect them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { "memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%", "nodefs.inodesFree": "2%" },
    serializeImagePulls: false,
    nodeStatusUpdateFrequency: "5s",
    syncFrequency: "10s",
    shutdownGracePeriod: "0s",
    staticPodPath: "",
    registerNode: true,
  });
}

export function kubeProxyConfig(o: { layout: NodeLayout; node: NodeAddressing; plan: NetworkPlan }): string {
  return stringify({
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "nftables",
    clientConnection: { kubeconfig: o.layout.kubeProxyKubeconfig },
    hostnameOverride: o.node.name,
    clusterCIDR: o.plan.clusterCidr,
    healthzBindAddress: "127.0.0.1:10256",
    metricsBindAddress: "127.0.0.1:10249",
    // Pods on one bridge reaching each other through a Service would see replies from the wrong
    // address without br_netfilter (a machine-wide module): masquerading every Service connection avoids it.
    nftables: { masqueradeAll: true, syncPeriod: "30s", minSyncPeriod: "0s" },
    nodePortAddresses: [`${o.node.ip}/32`],
    // 0 leaves the machine-wide conntrack settings as they are.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
  });
}
