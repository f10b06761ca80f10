// The cluster's network on this machine: one bridge in the host's network namespace that the
// host (API server, Azurite's proxy) and every node's veth join, a /16 of private addresses that no
// route of this machine uses yet, and a route per node to its pod subnet. Nodes live in network
// namespaces of their own (node.ts), so their nftables rules and forwarding stay inside them; the
// host forwards nothing (ip_forward is left alone). Deleting the bridge takes its addresses and routes.

import { execa } from "execa";

export interface NetworkPlan {
  /** Bridge device in the host namespace (≤ 15 characters). */
  bridge: string;
  /** Second octet of the cluster's 10.X.0.0/16. */
  octet: number;
  /** The host's address on the bridge: where pods and kubelets reach the API server and the proxy. */
  hostIp: string;
  /** Prefix length of the node segment (the bridge's subnet). */
  nodePrefix: number;
  /** ClusterIP range of Services (programmed only inside the nodes by kube-proxy). */
  serviceCidr: string;
  /** The `kubernetes` Service's ClusterIP: first address of serviceCidr. */
  kubernetesServiceIp: string;
  /** Every pod subnet together, kube-proxy's clusterCIDR. */
  clusterCidr: string;
}

export interface NodeAddressing {
  name: string;
  /** The node's InternalIP on the bridge segment. */
  ip: string;
  /** The host end of the node's veth pair. */
  hostVeth: string;
  podCidr: string;
  /** The node's own address on its pod bridge (pods' default gateway). */
  podGateway: string;
}

/** Names, subnets and addresses for a cluster whose id is `id` (hex) on the 10.X.0.0/16 given. Pure. */
export function planNetwork(id: string, octet: number): NetworkPlan {
  return {
    bridge: `bsbr${id}`.slice(0, 15),
    octet,
    hostIp: `10.${octet}.0.1`,
    nodePrefix: 24,
    serviceCidr: `10.${octet}.254.0/24`,
    kubernetesServiceIp: `10.${octet}.254.1`,
    clusterCidr: `10.${octet}.0.0/16`,
  };
}

/** Node `index` (0-based) of the plan: address on the bridge, veth name, pod subnet. Pure. */
export function nodeAddressing(plan: NetworkPlan, id: string, index: number, name: string): NodeAddressing {
  return {
    name,
    ip: `10.${plan.octet}.0.${10 + index}`,
    hostVeth: `bs${id}n${index}`.slice(0, 15),
    podCidr: `10.${plan.octet}.${index + 1}.0/24`,
    podGateway: `10.${plan.octet}.${index + 1}.1`,
  };
}

/** Second octets of 10.X.0.0/16 that some address or route of this machine already touches. */
export function octetsInUse(routesAndAddresses: string[]): Set<number> {
  const used = new Set<number>();
  for (const entry of routesAndAddresses) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(entry.trim());
    if (!m) continue;
    const [a, b] = [Number(m[1]), Number(m[2])];
    const prefix = m[5] === undefined ? 32 : Number(m[5]);
    if (a !== 10) continue;
    // A route wider than a /16 inside 10/8 (or 10/8 itself) covers every octet.
    if (prefix < 16) for (let x = 0; x < 256; x++) used.add(x);
    else used.add(b);
  }
  return used;
}

/** Where the system's network tools live, whatever PATH the caller has (a user's may lack the sbin dirs). */
export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async function ip(args: string[]): Promise<string> {
  return (await execa("ip", args, { env: { PATH: SYSTEM_PATH } })).stdout;
}

/** Every IPv4 destination and address this machine has, as CIDR strings. */
async function machineIpv4(): Promise<string[]> {
  const routes = JSON.parse(await ip(["-j", "-4", "route", "show", "table", "all"])) as Array<{ dst?: string }>;
  const addrs = JSON.parse(await ip(["-j", "-4", "addr"])) as Array<{ addr_info?: Array<{ local?: string; prefixlen?: number }> }>;
  return [
    ...routes.map((r) => r.dst ?? "").filter((d) => d !== "default" && d !== ""),
    ...addrs.flatMap((a) => (a.addr_info ?? []).map((i) => `${i.local}/${i.prefixlen}`)),
  ];
}

/** A 10.X.0.0/16 (X in 100–249) that nothing on this machine uses, chosen at random. */
export async function freeOctet(): Promise<number> {
  const used = octetsInUse(await machineIpv4());
  const free = Array.from({ length: 150 }, (_, i) => 100 + i).filter((x) => !used.has(x));
  if (free.length === 0) throw new Error("no free 10.X.0.0/16 for the cluster network: every candidate is in use on this machine");
  return free[Math.floor(Math.random() * free.length)]!;
}

/** Creates the bridge with the host's address and brings it up. */
export async function createBridge(plan: NetworkPlan): Promise<void> {
  await ip(["link", "add", plan.bridge, "type", "bridge"]);
  await ip(["addr", "add", `${plan.hostIp}/${plan.nodePrefix}`, "dev", plan.bridge]);
  await ip(["link", "set", plan.bridge, "up"]);
}

/** Whether a network device exists in the host namespace. */
export async function linkExists(name: string): Promise<boolean> {
  const r = await execa("ip", ["link", "show", "dev", name], { reject: false, env: { PATH: SYSTEM_PATH } });
  return r.exitCode === 0;
}

/** Removes the bridge (its address and the routes through it go with it) and any veth left on it. */
export async function deleteBridge(plan: Pick<NetworkPlan, "bridge">, veths: string[] = []): Promise<void> {
  for (const v of veths) if (await linkExists(v)) await ip(["link", "del", v]);
  if (await linkExists(plan.bridge)) await ip(["link", "del", plan.bridge]);
}

const inNetns = (pid: number, args: string[]) => execa("nsenter", ["--target", String(pid), "--net", "--", ...args], { env: { PATH: SYSTEM_PATH } });

/**
 * Wires a node whose namespaces are held by `pid` to the bridge: a veth pair (eth0 inside), the
 * node's address, a default route to the host, routes to every node's pod subnet, and forwarding
 * inside the node (a per-namespace setting) so its pods reach the host and the other node.
 */
export async function attachNode(plan: NetworkPlan, node: NodeAddressing, allNodes: NodeAddressing[], pid: number): Promise<void> {
  await ip(["link", "add", node.hostVeth, "type", "veth", "peer", "name", "eth0", "netns", String(pid)]);
  await ip(["link", "set", node.hostVeth, "master", plan.bridge, "up"]);
  await inNetns(pid, ["ip", "link", "set", "lo", "up"]);
  await inNetns(pid, ["ip", "addr", "add", `${node.ip}/${plan.nodePrefix}`, "dev", "eth0"]);
  await inNetns(pid, ["ip", "link", "set", "eth0", "up"]);
  await inNetns(pid, ["ip", "route", "add", "default", "via", plan.hostIp]);
  for (const other of allNodes) {
    if (other.name !== node.name) await inNetns(pid, ["ip", "route", "add", other.podCidr, "via", other.ip]);
  }
  // /proc/sys/net is the namespace's own for a process inside it.
  await inNetns(pid, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
  // The host reaches pods (API server proxy, tests) through the node that holds them.
  await ip(["route", "replace", node.podCidr, "via", node.ip, "dev", plan.bridge]);
}
