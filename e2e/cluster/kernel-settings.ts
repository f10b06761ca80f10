// kubelet writes machine-wide kernel settings when it starts (there is no opt-out that still starts;
// protectKernelDefaults only refuses to run). They are recorded before the first node of any local
// cluster on this machine starts and put back when the last one stops: every cluster that may have
// nodes running holds a marker, and the values seen before the first marker are the machine's own.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

/** What kubelet's container manager sets (setupKernelTunables) and what its key quota check raises. */
export const KUBELET_KERNEL_SETTINGS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
];

export const RECORD_DIR = "/run/blobstash-kernel-settings";
const ORIGINAL = "original.json";
const HOLDERS = "holders";

function readSettings(names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const f = path.join("/proc/sys", n);
    if (existsSync(f)) out[n] = readFileSync(f, "utf8").trim();
  }
  return out;
}

/** Records the machine's values (unless a running cluster already did) and registers `holder`. */
export function holdKernelSettings(holder: string, dir = RECORD_DIR): void {
  mkdirSync(path.join(dir, HOLDERS), { recursive: true });
  const original = path.join(dir, ORIGINAL);
  const holders = readdirSync(path.join(dir, HOLDERS));
  if (holders.length === 0 || !existsSync(original)) {
    writeFileSync(original, JSON.stringify(readSettings(KUBELET_KERNEL_SETTINGS), null, 2) + "\n");
  }
  writeFileSync(path.join(dir, HOLDERS, holder), `${process.pid}\n`);
}

/**
 * The holders whose process still runs; a holder left by a run that was killed (before its own
 * teardown could drop it) is removed, or the machine would never get its values back.
 */
export function liveHolders(dir = RECORD_DIR): string[] {
  const holders = path.join(dir, HOLDERS);
  if (!existsSync(holders)) return [];
  return readdirSync(holders).filter((h) => {
    const pid = Number(readFileSync(path.join(holders, h), "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`)) return true;
    rmSync(path.join(holders, h), { force: true });
    return false;
  });
}

/**
 * Drops `holder`; when no holder is left, writes every recorded value back and removes the record.
 * Returns the settings it restored (empty while other clusters still hold them).
 */
export function releaseKernelSettings(holder: string, dir = RECORD_DIR): Record<string, string> {
  const holderFile = path.join(dir, HOLDERS, holder);
  if (!existsSync(holderFile)) return {};
  rmSync(holderFile, { force: true });
  if (liveHolders(dir).length > 0) return {};
  const original = JSON.parse(readFileSync(path.join(dir, ORIGINAL), "utf8")) as Record<string, string>;
  const restored: Record<string, string> = {};
  for (const [name, value] of Object.entries(original)) {
    const f = path.join("/proc/sys", name);
    if (readFileSync(f, "utf8").trim() !== value) {
      writeFileSync(f, `${value}\n`);
      restored[name] = value;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return restored;
}

/** The current values, for tests that prove the machine got its own values back. */
export function currentKernelSettings(): Record<string, string> {
  return readSettings(KUBELET_KERNEL_SETTINGS);
}
