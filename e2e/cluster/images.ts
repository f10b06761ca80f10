// The images every node of the local cluster holds, built on this machine without a registry
// (e2e/images/) and imported into each node's containerd before its kubelet starts.
import { ensureImage } from "../images/images.ts";

export interface ClusterImages {
  /** The project's image: what the chart's Deployment and every Job run. */
  blobstash: string;
  /** localhost/toolbox:latest (busybox): how tests and the demo put data into PVCs and read it back. */
  toolbox: string;
  /** The sandbox image containerd's CRI starts for every pod. */
  pause: string;
  /** OCI archives to import into every node. */
  archives: string[];
}

/** Builds (or finds cached, by content) the three images. */
export async function clusterImages(o: { log?: (line: string) => void } = {}): Promise<ClusterImages> {
  const [blobstash, toolbox, pause] = await Promise.all([ensureImage("blobstash", o), ensureImage("toolbox", o), ensureImage("pause", o)]);
  return { blobstash: blobstash.ref, toolbox: toolbox.ref, pause: pause.ref, archives: [blobstash.archive, toolbox.archive, pause.archive] };
}
