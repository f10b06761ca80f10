// Where restic's TLS trust comes from when the admin configured an extra CA (a TLS-inspecting proxy,
// a private endpoint, Azure Stack): the system roots plus that CA, so the extra bundle adds to what
// the image trusts instead of replacing it. Go reads SSL_CERT_FILE as the one system bundle.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/** The env var through which the Job tells the wrapper where the extra CA bundle is mounted. */
export const EXTRA_CA_ENV = "BLOBSTASH_EXTRA_CA_FILE";

/** Where the image keeps the system roots (Debian's ca-certificates layout). */
export const SYSTEM_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];

/** The system roots and the extra bundle as one PEM text. Pure. */
export function combineBundles(system: string, extra: string): string {
  const sep = system === "" || system.endsWith("\n") ? "" : "\n";
  return `${system}${sep}${extra}${extra.endsWith("\n") ? "" : "\n"}`;
}

async function firstReadable(files: readonly string[]): Promise<string> {
  for (const f of files) {
    try {
      return await readFile(f, "utf8");
    } catch {
      // next
    }
  }
  return "";
}

/**
 * When env names an extra CA file, writes the combined bundle into `scratchDir` and returns the
 * variables restic needs (SSL_CERT_FILE); otherwise nothing. Fails with the file named when the
 * extra bundle cannot be read, since every Azure request would then fail less clearly.
 */
export async function trustEnv(env: NodeJS.ProcessEnv, scratchDir: string, systemBundles: readonly string[] = SYSTEM_BUNDLES): Promise<Record<string, string>> {
  const extraFile = env[EXTRA_CA_ENV];
  if (!extraFile) return {};
  let extra: string;
  try {
    extra = await readFile(extraFile, "utf8");
  } catch (err) {
    throw new Error(`the extra CA bundle ${extraFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  // TMPDIR points into the Job's scratch volume, empty at start.
  await mkdir(scratchDir, { recursive: true });
  const bundle = path.join(scratchDir, "ca-bundle.crt");
  await writeFile(bundle, combineBundles(await firstReadable(systemBundles), extra), { mode: 0o644 });
  return { SSL_CERT_FILE: bundle };
}
