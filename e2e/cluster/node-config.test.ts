import assert from "node:assert/strict";
import { parse } from "yaml";
import { nodeAddressing, planNetwork } from "./network.ts";
import { cniConfig, containerdConfig, kubeletConfig, kubeProxyConfig, nodeLayout } from "./node-config.ts";

const plan = planNetwork("abcdef", 150);
const node = nodeAddressing(plan, "abcdef", 0, "blobstash-node-1");
const layout = nodeLayout("/tmp/cluster", node.name);

describe("local cluster node configuration", () => {
  it("lets containerd start sandboxes without CAP_SYS_RESOURCE and keeps its state under the node's private paths", () => {
    const toml = containerdConfig({ layout, runc: "/tools/runc", cniBinDir: "/tools/cni", sandboxImage: "localhost/pause:v1" });
    assert.match(toml, /^version = 4$/m);
    assert.match(toml, /restrict_oom_score_adj = true/);
    assert.match(toml, /^root = "\/tmp\/cluster\/nodes\/blobstash-node-1\/containerd"$/m);
    assert.match(toml, /^state = "\/run\/containerd"$/m, "state in the node's own /run");
    assert.match(toml, /BinaryName = "\/tools\/runc"/);
    assert.match(toml, /SystemdCgroup = false/);
    assert.match(toml, /sandbox = "localhost\/pause:v1"/);
    assert.match(toml, /conf_dir = "\/tmp\/cluster\/nodes\/blobstash-node-1\/cni"/);
  });

  it("gives pods a bridge inside the node, addresses from its own subnet, and no masquerading", () => {
    const cni = JSON.parse(cniConfig(node)) as { plugins: Array<Record<string, unknown> & { ipam: { ranges: Array<Array<{ subnet: string; gateway: string }>> } }> };
    const bridge = cni.plugins[0]!;
    assert.equal(bridge.type, "bridge");
    assert.equal(bridge.isGateway, true);
    assert.equal(bridge.ipMasq, false);
    assert.deepEqual(bridge.ipam.ranges, [[{ subnet: "10.150.1.0/24", gateway: "10.150.1.1" }]]);
  });

  it("configures kubelet for this machine: cgroupfs on v1, its own cgroup root, no upstream DNS, x509 only", () => {
    const k = parse(kubeletConfig({ layout, node, caFile: "/pki/ca.crt", cgroupRoot: "/blobstash-abcdef/blobstash-node-1" })) as Record<string, unknown>;
    assert.equal(k.cgroupDriver, "cgroupfs");
    assert.equal(k.failCgroupV1, false);
    assert.equal(k.failSwapOn, false);
    assert.equal(k.resolvConf, "");
    assert.equal(k.cgroupRoot, "/blobstash-abcdef/blobstash-node-1");
    assert.equal(k.address, "10.150.0.10");
    assert.equal(k.readOnlyPort, 0);
    assert.deepEqual(k.authentication, { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: "/pki/ca.crt" } });
    assert.equal(k.containerRuntimeEndpoint, "unix:///run/containerd/containerd.sock");
    assert.equal(k.imageGCHighThresholdPercent, 100, "imported images are never collected");
  });

  it("runs kube-proxy in nftables mode without touching machine-wide conntrack settings", () => {
    const p = parse(kubeProxyConfig({ layout, node, plan })) as Record<string, unknown> & { conntrack: Record<string, unknown>; nftables: Record<string, unknown> };
    assert.equal(p.mode, "nftables");
    assert.equal(p.clusterCIDR, "10.150.0.0/16");
    assert.equal(p.hostnameOverride, "blobstash-node-1");
    assert.deepEqual(p.conntrack, { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" });
    assert.equal(p.nftables.masqueradeAll, true);
  });
});
