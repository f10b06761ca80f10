import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Pki } from "./certs.ts";
import { probeGet } from "./https-probe.ts";
import { exitedWithLog, startProcess, type ProcessRecord } from "./supervisor.ts";
import { nodeBinary, repoRoot } from "./tools.ts";
import { waitFor } from "./wait.ts";

export const nodeName = "blobstash-local";
export const nodeAgentMain = path.join(repoRoot, "e2e/node-agent/main.ts");

export interface NodeAgentConfig {
  dir: string;
  pki: Pki;
  apiServerUrl: string;
  kubeconfig: string;
  pvcRoot: string;
  workDir: string;
  /** The node-level environment: proxy, CA trust and PATH, never the emulator's account key. */
  env: Record<string, string>;
  dieWithParent?: boolean;
}

export function nodeAgentAvailable(): boolean {
  return existsSync(nodeAgentMain);
}

export function nodeAgentArgs(cfg: Pick<NodeAgentConfig, "kubeconfig" | "pvcRoot" | "workDir">): string[] {
  return [nodeAgentMain, "--kubeconfig", cfg.kubeconfig, "--node-name", nodeName, "--pvc-root", cfg.pvcRoot, "--work-dir", cfg.workDir];
}

/** Whether the Node object reports Ready=True. */
export async function nodeReady(apiServerUrl: string, pki: Pki): Promise<boolean> {
  const res = await probeGet(`${apiServerUrl}/api/v1/nodes/${nodeName}`, {
    ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey),
  });
  if (res.status !== 200) return false;
  const node = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Starts the node agent (kubelet stand-in) and waits until its Node is Ready. */
export async function startNodeAgent(cfg: NodeAgentConfig): Promise<ProcessRecord> {
  mkdirSync(cfg.pvcRoot, { recursive: true });
  mkdirSync(cfg.workDir, { recursive: true });
  const record = startProcess(cfg.dir, "node-agent", nodeBinary(), nodeAgentArgs(cfg), {
    env: cfg.env, cwd: repoRoot, dieWithParent: cfg.dieWithParent,
  });
  await waitFor(`Node ${nodeName} Ready`, () => nodeReady(cfg.apiServerUrl, cfg.pki), {
    timeoutMs: 60_000, intervalMs: 200, abortIf: exitedWithLog(cfg.dir, record),
  });
  return record;
}
