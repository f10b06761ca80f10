// Live credentials for a ClusterAccess: files are read again when they change (a rotated
// ServiceAccount token, CA, client certificate and key, as kubectl and client-go do), exec plugins
// and auth providers are asked through @kubernetes/client-node, loaded on the first request that
// needs it. Everything else stays in this small module, so an in-cluster or token operator never
// loads that library.

import { readFileSync, statSync } from "node:fs";
import type { ClusterAccess, Material } from "./kubeconfig.ts";
import { KubeconfigError } from "./kubeconfig.ts";
import type { PluginAuthenticator } from "./plugin-auth.ts";

/** How the TLS session to the API server is made; a new object whenever any part of it changed. */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

/** What a request carries to prove who it is; an exec plugin may give a client certificate instead of a token. */
export interface Authorization {
  headers: Record<string, string | string[]>;
  cert?: Buffer;
  key?: Buffer;
}

export interface Connection {
  server: string;
  source: string;
  notes: string[];
  proxyUrl?: string;
  tls(): TlsMaterial;
  authorize(): Promise<Authorization>;
  /** The API server answered 401: plugin credentials are fetched again for the next request. */
  refused(): void;
}

/** client-go reads rotating token and certificate files about this often. */
export const REREAD_MS = 60_000;

export function connect(access: ClusterAccess, opts: { rereadMs?: number } = {}): Connection {
  const period = opts.rereadMs ?? REREAD_MS;
  const read = (m: Material | undefined, what: string): (() => Buffer | undefined) => {
    if (!m) return () => undefined;
    if ("data" in m) return () => m.data;
    return rereadEvery(m.file, period, what);
  };
  const ca = read(access.ca, "the CA");
  const cert = read(access.cert, "the client certificate");
  const key = read(access.key, "the client key");
  const tokenFile = access.tokenFile ? rereadEvery(access.tokenFile, period, "the token file") : undefined;

  let tls: TlsMaterial | undefined;
  const tlsNow = (): TlsMaterial => {
    const next = { ca: ca(), cert: cert(), key: key() };
    if (!tls || tls.ca !== next.ca || tls.cert !== next.cert || tls.key !== next.key) {
      tls = { rejectUnauthorized: !access.insecureSkipTlsVerify };
      if (next.ca) tls.ca = next.ca;
      if (next.cert) tls.cert = next.cert;
      if (next.key) tls.key = next.key;
      if (access.tlsServerName) tls.servername = access.tlsServerName;
    }
    return tls;
  };
  tlsNow(); // files named but unreadable fail at start, not at the first request

  const basic = access.basic ? `Basic ${Buffer.from(`${access.basic.username}:${access.basic.password}`).toString("base64")}` : undefined;
  let plugin: Promise<PluginAuthenticator> | undefined;
  const user = access.plugin;
  const conn: Connection = {
    server: access.server,
    source: access.source,
    notes: access.notes,
    tls: tlsNow,
    async authorize() {
      const headers: Record<string, string | string[]> = { ...access.impersonate };
      const token = tokenFile?.()?.toString("utf8").trim() || access.token;
      if (token) headers.authorization = `Bearer ${token}`;
      else if (basic) headers.authorization = basic;
      if (!user) return { headers };
      plugin ??= import("./plugin-auth.ts").then((m) => m.pluginAuthenticator(user, access.server));
      const given = await (await plugin).authorize();
      return { ...given, headers: { ...headers, ...given.headers } };
    },
    refused() {
      void plugin?.then((p) => p.reset());
    },
  };
  if (access.proxyUrl) conn.proxyUrl = access.proxyUrl;
  return conn;
}

/**
 * A file's content, read again when its modification time or size changed, looked at no more than
 * once per `periodMs`. The first read must succeed; after that a failed read keeps the last good
 * content (a rotation in progress must not drop credentials).
 */
function rereadEvery(file: string, periodMs: number, what: string): () => Buffer {
  let value: Buffer;
  let stamp = "";
  const load = () => {
    const st = statSync(file);
    const next = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (next !== stamp) {
      value = readFileSync(file);
      stamp = next;
    }
  };
  try {
    load();
  } catch (err) {
    throw new KubeconfigError(`cannot read ${what} (${file}): ${(err as Error).message}`);
  }
  let checkedAt = performance.now();
  return () => {
    const now = performance.now();
    if (now - checkedAt >= periodMs) {
      checkedAt = now;
      try {
        load();
      } catch {
        // keep the last good content
      }
    }
    return value;
  };
}
