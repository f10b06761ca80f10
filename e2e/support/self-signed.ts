// A throwaway TLS identity for tests that run their own HTTPS server.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** A self-signed P-256 certificate for `name` (an IP address or a DNS name), valid one day. */
export function selfSignedCert(name: string): { certPem: string; keyPem: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "self-signed-"));
  try {
    const san = /^[\d.]+$/.test(name) ? `IP:${name}` : `DNS:${name}`;
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", `/CN=${name}`,
      "-addext", `subjectAltName=${san}`, "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
    return { certPem: readFileSync(path.join(dir, "cert.pem"), "utf8"), keyPem: readFileSync(path.join(dir, "key.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
