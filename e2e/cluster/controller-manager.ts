import { servingArgs, startComponent, type ComponentConfig } from "./component.ts";
import type { ProcessRecord } from "./supervisor.ts";

export type ControllerManagerConfig = ComponentConfig;

/** What Jobs, Deployments, Services, PVCs, nodes, owner references and namespaces need; nothing that wants a cloud. */
export const controllers = [
  "deployment-controller",
  "replicaset-controller",
  // Services get their endpoints (kube-proxy programs them; the API server proxies to them).
  "endpoints-controller",
  "endpointslice-controller",
  "endpointslice-mirroring-controller",
  // Lifts the not-ready taint from a new node, and marks a node that stops reporting NotReady.
  "node-lifecycle-controller",
  "taint-eviction-controller",
  // Binds claims to volumes; with --enable-hostpath-provisioner it provisions them for the default StorageClass.
  "persistentvolume-binder-controller",
  "persistentvolume-protection-controller",
  "job-controller",
  "garbage-collector-controller",
  "namespace-controller",
  "serviceaccount-controller",
  "serviceaccount-token-controller",
  "ttl-after-finished-controller",
  "root-ca-certificate-publisher-controller",
  "pod-garbage-collector-controller",
  // The API server puts kubernetes.io/pvc-protection on every PVC; without this controller to take it
  // off once no pod uses the claim, deleting a PVC (or its namespace) would hang forever.
  "persistentvolumeclaim-protection-controller",
];

export function controllerManagerArgs(cfg: Pick<ControllerManagerConfig, "pki" | "kubeconfig" | "port">): string[] {
  return [
    "--kubeconfig", cfg.kubeconfig,
    "--controllers", controllers.join(","),
    "--service-account-private-key-file", cfg.pki.serviceAccountKey,
    "--root-ca-file", cfg.pki.caCert,
    // Each controller acts as its own ServiceAccount (system:controller:*), as in kubeadm clusters: the
    // bootstrap RBAC grants job, GC, root-CA publisher etc. only to those, not to the manager's own user.
    "--use-service-account-credentials=true",
    "--leader-elect=false",
    // The default StorageClass's provisioner (kubernetes.io/host-path): directories under /tmp/hostpath_pv,
    // deleted with their claims.
    "--enable-hostpath-provisioner",
    // A stopped node is noticed in seconds, not the production default's 40–50 s.
    "--node-monitor-period", "2s",
    "--node-monitor-grace-period", "16s",
    ...servingArgs(cfg),
  ];
}

export function startControllerManager(cfg: ControllerManagerConfig): Promise<ProcessRecord> {
  return startComponent("kube-controller-manager", cfg, controllerManagerArgs(cfg));
}
