// Where the API server is and how to prove who we are: the in-cluster ServiceAccount, or the
// current context of a kubeconfig file. The operator speaks to the API server with its own small
// client (api-client.ts) instead of @kubernetes/client-node, whose import alone costs ~75 MB of
// resident memory (its generated models, auth providers and their dependencies); see
// docs/design.md, "The Kubernetes client".

import { readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse } from "yaml";

export interface Connection {
  /** https://host:port, without a trailing slash. */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  /** The bearer token for the next request; re-read from its file when that can rotate. */
  token?: () => string | undefined;
  /** Where this came from, for messages. */
  source: string;
}

export class KubeconfigError extends Error {}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** client-go reads a rotating token file about this often. */
const TOKEN_REREAD_MS = 60_000;

export interface ReadOptions {
  tokenRereadMs?: number;
}

/** KUBECONFIG (or the given path) when set, the in-cluster ServiceAccount when running in a pod, ~/.kube/config otherwise. */
export function loadConnection(kubeconfigPath?: string, env: NodeJS.ProcessEnv = process.env): Connection {
  const file = kubeconfigPath || env.KUBECONFIG?.split(path.delimiter).find(Boolean);
  if (file) return fromKubeconfigFile(file);
  if (env.KUBERNETES_SERVICE_HOST) return inCluster(env);
  return fromKubeconfigFile(path.join(os.homedir(), ".kube", "config"));
}

/** The pod's ServiceAccount: projected tokens rotate (about hourly), so the file is read again, as client-go does. */
export function inCluster(env: NodeJS.ProcessEnv, dir = SERVICE_ACCOUNT_DIR, opts: ReadOptions = {}): Connection {
  const host = env.KUBERNETES_SERVICE_HOST ?? "";
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const tokenFile = path.join(dir, "token");
  return { server, ca: readOrThrow(path.join(dir, "ca.crt"), "the ServiceAccount CA"), token: rereadEvery(tokenFile, opts.tokenRereadMs ?? TOKEN_REREAD_MS), source: `in-cluster ServiceAccount (${dir})` };
}

export function fromKubeconfigFile(file: string): Connection {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
  }
  return fromKubeconfigText(text, file);
}

interface Named<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}

/** The current context of a kubeconfig; relative file paths in it are relative to the file, as kubectl has them. */
export function fromKubeconfigText(text: string, file: string, opts: ReadOptions = {}): Connection {
  let doc: Record<string, unknown>;
  try {
    doc = (parse(text) ?? {}) as Record<string, unknown>;
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${file} is not valid YAML: ${(err as Error).message}`);
  }
  const pick = <T>(list: unknown, name: string | undefined, kind: "cluster" | "user" | "context"): T => {
    const entry = Array.isArray(list) ? (list as Array<Named<T>>).find((e) => e.name === name) : undefined;
    const value = entry?.[kind];
    if (!value) throw new KubeconfigError(`kubeconfig ${file}: no ${kind} named ${JSON.stringify(name ?? "")} (current-context ${JSON.stringify(doc["current-context"] ?? "")})`);
    return value;
  };
  const ctx = pick<{ cluster?: string; user?: string }>(doc.contexts, doc["current-context"] as string | undefined, "context");
  const cluster = pick<Record<string, unknown>>(doc.clusters, ctx.cluster, "cluster");
  const user = ctx.user ? pick<Record<string, unknown>>(doc.users, ctx.user, "user") : {};
  const dir = path.dirname(file);
  const str = (o: Record<string, unknown>, k: string) => (typeof o[k] === "string" && o[k] !== "" ? (o[k] as string) : undefined);
  const material = (o: Record<string, unknown>, k: string, what: string): Buffer | undefined => {
    const data = str(o, `${k}-data`);
    if (data) return Buffer.from(data, "base64");
    const f = str(o, k);
    return f ? readOrThrow(path.resolve(dir, f), `${what} named in ${file}`) : undefined;
  };

  for (const unsupported of ["exec", "auth-provider", "username"]) {
    if (user[unsupported] !== undefined) {
      throw new KubeconfigError(
        `kubeconfig ${file}: user ${JSON.stringify(ctx.user)} authenticates with "${unsupported}", which blobstash does not support; ` +
          "use a kubeconfig with a token or a client certificate, or run the operator in the cluster with its ServiceAccount",
      );
    }
  }
  const server = str(cluster, "server");
  if (!server) throw new KubeconfigError(`kubeconfig ${file}: cluster ${JSON.stringify(ctx.cluster)} has no server`);
  const tokenFile = str(user, "tokenFile");
  const token = str(user, "token");
  const conn: Connection = { server: server.replace(/\/+$/, ""), source: `kubeconfig ${file}` };
  const ca = material(cluster, "certificate-authority", "the CA");
  const cert = material(user, "client-certificate", "the client certificate");
  const key = material(user, "client-key", "the client key");
  if (ca) conn.ca = ca;
  if (cert) conn.cert = cert;
  if (key) conn.key = key;
  if (cluster["insecure-skip-tls-verify"] === true) conn.insecureSkipTlsVerify = true;
  const serverName = str(cluster, "tls-server-name");
  if (serverName) conn.tlsServerName = serverName;
  if (token) conn.token = () => token;
  else if (tokenFile) conn.token = rereadEvery(path.resolve(dir, tokenFile), opts.tokenRereadMs ?? TOKEN_REREAD_MS);
  return conn;
}

function readOrThrow(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new KubeconfigError(`cannot read ${what} (${file}): ${(err as Error).message}`);
  }
}

/** A token file's content, read again when it changed and at most once per `periodMs`; the last good value survives a failed read. */
function rereadEvery(file: string, periodMs: number): () => string | undefined {
  let value: string | undefined;
  let readAt = -Infinity;
  let mtime = -1;
  return () => {
    const now = performance.now();
    if (now - readAt < periodMs && value !== undefined) return value;
    readAt = now;
    try {
      const m = statSync(file).mtimeMs;
      if (m !== mtime || value === undefined) {
        value = readFileSync(file, "utf8").trim();
        mtime = m;
      }
    } catch {
      // keep the last token: a rotation in progress must not drop credentials
    }
    return value;
  };
}
