// Throwaway HTTPS servers for tests of TLS clients: a self-signed identity, and a server on a free
// loopback port that counts the TLS connections it accepted.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
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

export interface TlsTestServer {
  server: https.Server;
  /** https://127.0.0.1:<port> */
  url: string;
  port: number;
  /** The server's certificate: the CA a client must trust. */
  caPem: string;
  /** TLS connections accepted so far; a test may reset it. */
  connections: number;
  close(): void;
}

/** An HTTPS server for `name` (its certificate's subject) on 127.0.0.1, keeping connections alive 10 s. */
export async function startTlsServer(name: string, handler: http.RequestListener): Promise<TlsTestServer> {
  const tls = selfSignedCert(name);
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem, keepAliveTimeout: 10_000 }, handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const srv: TlsTestServer = {
    server,
    url: `https://127.0.0.1:${port}`,
    port,
    caPem: tls.certPem,
    connections: 0,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
  server.on("secureConnection", () => srv.connections++);
  return srv;
}
