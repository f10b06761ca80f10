import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { probeGet } from "./https-probe.ts";
import { exitedWithLog, startProcess, stopProcess, type ProcessRecord } from "./supervisor.ts";
import { repoRoot } from "./tools.ts";
import { waitFor } from "./wait.ts";

export interface AzuriteConfig {
  dir: string;
  port: number;
  /** Where blobs and metadata live; on disk so a stopped emulator comes back with its data. */
  location: string;
  certFile: string;
  keyFile: string;
  caFile: string;
  account: string;
  key: string;
  node: string;
  dieWithParent?: boolean;
}

export const azuriteProcessName = "azurite";

export function azuriteArgs(cfg: Pick<AzuriteConfig, "port" | "location" | "certFile" | "keyFile">, debugLog?: string): string[] {
  return [
    "--import", path.join(import.meta.dirname, "azurite-compat.ts"),
    path.join(repoRoot, "node_modules/azurite/dist/src/blob/main.js"),
    "--blobHost", "127.0.0.1",
    "--blobPort", String(cfg.port),
    "--location", cfg.location,
    "--cert", cfg.certFile,
    "--key", cfg.keyFile,
    // OAuth needs HTTPS; it lets user-delegation SAS and bearer tokens be tested, not only shared keys.
    "--oauth", "basic",
    "--disableTelemetry",
    "--skipApiVersionCheck",
    "--loose",
    // Azurite's debug log says why it refused a request (its access log only has the status); it is
    // large and slows the emulator, so only on request.
    ...(debugLog ? ["--debug", debugLog] : []),
  ];
}

/** Starts Azurite on cfg.port (the same port on every restart) and waits until it answers over TLS. */
export async function startAzurite(cfg: AzuriteConfig): Promise<ProcessRecord> {
  mkdirSync(cfg.location, { recursive: true });
  const debugLog = process.env.BLOBSTASH_AZURITE_DEBUG ? path.join(cfg.dir, "logs", "azurite-debug.log") : undefined;
  const record = startProcess(cfg.dir, azuriteProcessName, cfg.node, azuriteArgs(cfg, debugLog), {
    // The account key is ours, not the well-known emulator key, so tests prove the key is really checked.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AZURITE_ACCOUNTS: `${cfg.account}:${cfg.key}` },
    cwd: cfg.location,
    dieWithParent: cfg.dieWithParent,
  });
  const ca = readFileSync(cfg.caFile);
  await waitFor(
    `Azurite on https://${cfg.account}.blob.localhost:${cfg.port}`,
    // Any HTTP answer over a verified TLS handshake for the account host name means it serves.
    async () => (await probeGet(`https://127.0.0.1:${cfg.port}/${cfg.account}?comp=list`, { ca, servername: `${cfg.account}.blob.localhost` })).status > 0,
    { timeoutMs: 30_000, intervalMs: 100, abortIf: exitedWithLog(cfg.dir, record) },
  );
  return record;
}

export async function stopAzurite(dir: string): Promise<void> {
  // Azurite writes its metadata on SIGTERM; the grace is there so it can finish.
  await stopProcess(dir, azuriteProcessName, 10_000);
}
