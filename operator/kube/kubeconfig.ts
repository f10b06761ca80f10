// Where the API server is and how to prove who we are: the in-cluster ServiceAccount, or the
// current context of a kubeconfig, read the way kubectl reads it. Several files in KUBECONFIG are
// merged as client-go merges them; relative paths are relative to the file that names them; every
// field kubectl acts on is acted on here, and what the operator does not use is said, never
// dropped in silence. The result is a plain description (ClusterAccess); connection.ts turns it
// into live credentials.

import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { isRecord } from "../api/json.ts";

/** A file to read (again when it changes), or bytes given inline. */
export type Material = { file: string } | { data: Buffer };

/** A user that only @kubernetes/client-node's authenticators can serve: exec plugins, auth providers. */
export interface PluginUser {
  name: string;
  exec?: Record<string, unknown>;
  authProvider?: Record<string, unknown>;
}

export interface ClusterAccess {
  /** https://host:port[/path], without a trailing slash. */
  server: string;
  ca?: Material;
  cert?: Material;
  key?: Material;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  /** proxy-url: http(s):// (CONNECT) or socks5:// */
  proxyUrl?: string;
  token?: string;
  tokenFile?: string;
  basic?: { username: string; password: string };
  plugin?: PluginUser;
  /** Impersonate-* headers (as, as-uid, as-groups, as-user-extra). */
  impersonate: Record<string, string | string[]>;
  /** Where this came from, for messages. */
  source: string;
  /** What the kubeconfig holds that the operator does not use, for the start-up log. */
  notes: string[];
}

export class KubeconfigError extends Error {}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * The kubeconfig file(s) when given (a path list, as KUBECONFIG is), the in-cluster ServiceAccount
 * when running in a pod, ~/.kube/config otherwise.
 */
export function loadClusterAccess(kubeconfig?: string, env: NodeJS.ProcessEnv = process.env): ClusterAccess {
  const files = (kubeconfig || env.KUBECONFIG || "").split(path.delimiter).filter(Boolean);
  if (files.length > 0) return fromKubeconfigFiles(files);
  if (env.KUBERNETES_SERVICE_HOST) return inCluster(env);
  return fromKubeconfigFiles([path.join(os.homedir(), ".kube", "config")]);
}

/** The pod's ServiceAccount: its token and CA are files that rotate, read again as client-go does. */
export function inCluster(env: NodeJS.ProcessEnv, dir = SERVICE_ACCOUNT_DIR): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST ?? "";
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: { file: path.join(dir, "ca.crt") },
    tokenFile: path.join(dir, "token"),
    impersonate: {},
    source: `in-cluster ServiceAccount (${dir})`,
    notes: [],
  };
}

type Doc = Record<string, unknown>;

/**
 * Several kubeconfig files merged as client-go merges KUBECONFIG: for each cluster, user and context
 * name the first file that defines it wins, and so does the first current-context; files that do
 * not exist are skipped (an error only when none exists).
 */
export function fromKubeconfigFiles(files: string[]): ClusterAccess {
  const docs: Array<{ file: string; doc: Doc }> = [];
  const missing: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && files.length > 1) {
        missing.push(file);
        continue;
      }
      throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
    }
    docs.push({ file, doc: parseDoc(text, file) });
  }
  if (docs.length === 0) throw new KubeconfigError(`none of the kubeconfig files exists: ${files.join(", ")}`);
  const access = fromKubeconfigDocs(docs);
  if (missing.length) access.notes.push(`kubeconfig file(s) ${missing.join(", ")} do not exist and were skipped, as kubectl skips them`);
  return access;
}

/** One kubeconfig given as text (its relative paths resolve against `file`'s directory). */
export function fromKubeconfigText(text: string, file: string): ClusterAccess {
  return fromKubeconfigDocs([{ file, doc: parseDoc(text, file) }]);
}

function parseDoc(text: string, file: string): Doc {
  let doc: unknown;
  try {
    doc = parse(text) ?? {};
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (!isRecord(doc)) throw new KubeconfigError(`kubeconfig ${file} is not a mapping`);
  return doc;
}

interface Entry {
  name: string;
  value: Doc;
  file: string;
}

type Kind = "cluster" | "user" | "context";
const LISTS: Record<Kind, string> = { cluster: "clusters", user: "users", context: "contexts" };

const CLUSTER_FIELDS = new Set([
  "server",
  "certificate-authority",
  "certificate-authority-data",
  "insecure-skip-tls-verify",
  "tls-server-name",
  "proxy-url",
  "disable-compression",
  "extensions",
]);
const USER_FIELDS = new Set([
  "client-certificate",
  "client-certificate-data",
  "client-key",
  "client-key-data",
  "token",
  "tokenFile",
  "as",
  "as-uid",
  "as-groups",
  "as-user-extra",
  "username",
  "password",
  "auth-provider",
  "exec",
  "extensions",
]);
const CONTEXT_FIELDS = new Set(["cluster", "user", "namespace", "extensions"]);

export function fromKubeconfigDocs(docs: Array<{ file: string; doc: Doc }>): ClusterAccess {
  const notes: string[] = [];
  const maps: Record<Kind, Map<string, Entry>> = { cluster: new Map(), user: new Map(), context: new Map() };
  let currentContext: string | undefined;
  for (const { file, doc } of docs) {
    if (currentContext === undefined && typeof doc["current-context"] === "string" && doc["current-context"] !== "") currentContext = doc["current-context"];
    for (const kind of Object.keys(maps) as Kind[]) {
      const list = doc[LISTS[kind]];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) throw new KubeconfigError(`kubeconfig ${file}: ${LISTS[kind]} is not a list`);
      for (const item of list) {
        if (!isRecord(item) || typeof item.name !== "string") continue;
        const value = item[kind];
        if (!maps[kind].has(item.name) && isRecord(value)) maps[kind].set(item.name, { name: item.name, value, file });
      }
    }
  }
  const files = docs.map((d) => d.file).join(path.delimiter);
  if (!currentContext) throw new KubeconfigError(`kubeconfig ${files}: no current-context`);
  const ctx = maps.context.get(currentContext);
  if (!ctx) throw new KubeconfigError(`kubeconfig ${files}: no context named ${JSON.stringify(currentContext)} (the current-context)`);
  const clusterName = typeof ctx.value.cluster === "string" ? ctx.value.cluster : "";
  const cluster = maps.cluster.get(clusterName);
  if (!cluster) throw new KubeconfigError(`kubeconfig ${files}: no cluster named ${JSON.stringify(clusterName)} (context ${JSON.stringify(currentContext)})`);
  const userName = typeof ctx.value.user === "string" ? ctx.value.user : "";
  const user = userName ? maps.user.get(userName) : undefined;
  if (userName && !user) throw new KubeconfigError(`kubeconfig ${files}: no user named ${JSON.stringify(userName)} (context ${JSON.stringify(currentContext)})`);

  const where = (e: Entry, kind: Kind) => `${kind} ${JSON.stringify(e.name)} (${e.file})`;
  unknownFields(ctx, CONTEXT_FIELDS, where(ctx, "context"), notes);
  unknownFields(cluster, CLUSTER_FIELDS, where(cluster, "cluster"), notes);
  if (user) unknownFields(user, USER_FIELDS, where(user, "user"), notes);
  if (typeof ctx.value.namespace === "string" && ctx.value.namespace !== "") {
    notes.push(`${where(ctx, "context")}: namespace ${JSON.stringify(ctx.value.namespace)} is not used; the operator watches --watch-namespaces, or all namespaces`);
  }
  for (const e of [ctx, cluster, ...(user ? [user] : [])]) {
    if (e.value.extensions !== undefined) notes.push(`${where(e, e === ctx ? "context" : e === cluster ? "cluster" : "user")}: extensions are for other tools and are not used`);
  }

  const c = cluster.value;
  const server = str(c, "server", where(cluster, "cluster"));
  if (!server) throw new KubeconfigError(`${where(cluster, "cluster")} has no server`);
  let serverUrl: URL;
  try {
    serverUrl = new URL(server);
  } catch {
    throw new KubeconfigError(`${where(cluster, "cluster")}: server ${JSON.stringify(server)} is not a URL`);
  }
  if (serverUrl.protocol !== "https:" && serverUrl.protocol !== "http:") throw new KubeconfigError(`${where(cluster, "cluster")}: server ${JSON.stringify(server)} is not http(s)`);
  const access: ClusterAccess = { server: server.replace(/\/+$/, ""), impersonate: {}, source: `kubeconfig ${files}, context ${JSON.stringify(currentContext)}`, notes };
  const ca = material(cluster, "certificate-authority", where(cluster, "cluster"));
  if (ca) access.ca = ca;
  if (bool(c, "insecure-skip-tls-verify", where(cluster, "cluster"))) {
    if (ca) throw new KubeconfigError(`${where(cluster, "cluster")}: a CA together with insecure-skip-tls-verify; kubectl refuses that too`);
    access.insecureSkipTlsVerify = true;
  }
  const serverName = str(c, "tls-server-name", where(cluster, "cluster"));
  if (serverName) access.tlsServerName = serverName;
  const proxyUrl = str(c, "proxy-url", where(cluster, "cluster"));
  if (proxyUrl) {
    let p: URL;
    try {
      p = new URL(proxyUrl);
    } catch {
      throw new KubeconfigError(`${where(cluster, "cluster")}: proxy-url ${JSON.stringify(proxyUrl)} is not a URL`);
    }
    if (!["http:", "https:", "socks5:", "socks5h:", "socks:"].includes(p.protocol)) {
      throw new KubeconfigError(`${where(cluster, "cluster")}: proxy-url scheme ${p.protocol} is not one kubectl supports (http, https, socks5)`);
    }
    access.proxyUrl = proxyUrl;
  }
  if (user) addUser(access, user, where(user, "user"));
  return access;
}

function addUser(access: ClusterAccess, user: Entry, where: string): void {
  const u = user.value;
  const cert = material(user, "client-certificate", where);
  const key = material(user, "client-key", where);
  if (cert && !key) throw new KubeconfigError(`${where}: a client certificate without a client key`);
  if (key && !cert) throw new KubeconfigError(`${where}: a client key without a client certificate`);
  if (cert) access.cert = cert;
  if (key) access.key = key;
  const token = str(u, "token", where);
  const tokenFile = str(u, "tokenFile", where);
  // client-go: the file is read periodically and what it last held wins over the token given inline.
  if (token) access.token = token;
  if (tokenFile) access.tokenFile = path.resolve(path.dirname(user.file), tokenFile);
  const username = str(u, "username", where);
  const password = str(u, "password", where);
  if (username !== undefined || password !== undefined) access.basic = { username: username ?? "", password: password ?? "" };

  const exec = u.exec;
  const authProvider = u["auth-provider"];
  if (exec !== undefined && exec !== null) {
    if (!isRecord(exec) || typeof exec.command !== "string" || exec.command === "") throw new KubeconfigError(`${where}: exec has no command`);
    // client-go: a command with a path separator is relative to the kubeconfig that names it.
    const command = exec.command.includes("/") ? path.resolve(path.dirname(user.file), exec.command) : exec.command;
    access.plugin = { name: user.name, exec: { ...exec, command } };
    if (exec.provideClusterInfo === true) access.notes.push(`${where}: exec.provideClusterInfo is not supported by the library that runs the plugin; the plugin gets no KUBERNETES_EXEC_INFO`);
    if (exec.interactiveMode === "Always") access.notes.push(`${where}: exec.interactiveMode Always needs a terminal, which the operator never has; the plugin runs without one`);
  }
  if (authProvider !== undefined && authProvider !== null) {
    if (!isRecord(authProvider) || typeof authProvider.name !== "string") throw new KubeconfigError(`${where}: auth-provider has no name`);
    if (access.plugin) throw new KubeconfigError(`${where}: both exec and auth-provider are set; kubectl refuses that too`);
    access.plugin = { name: user.name, authProvider };
  }
  if ((access.token || access.tokenFile) && access.basic) throw new KubeconfigError(`${where}: username/password and a bearer token are both set; kubectl refuses that too`);
  if ((access.token || access.tokenFile) && access.plugin) {
    // client-go's plugin round tripper leaves an Authorization header that is already set alone.
    access.notes.push(`${where}: ${access.plugin.exec ? "exec" : "auth-provider"} is not used because a token is set, which wins in kubectl too`);
    delete access.plugin;
  }
  const as = str(u, "as", where);
  const asUid = str(u, "as-uid", where);
  const groups = u["as-groups"];
  const extra = u["as-user-extra"];
  if (as) access.impersonate["Impersonate-User"] = as;
  if (asUid) access.impersonate["Impersonate-Uid"] = asUid;
  if (groups !== undefined && groups !== null) {
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === "string")) throw new KubeconfigError(`${where}: as-groups is not a list of strings`);
    if (groups.length) access.impersonate["Impersonate-Group"] = groups as string[];
  }
  if (extra !== undefined && extra !== null) {
    if (!isRecord(extra)) throw new KubeconfigError(`${where}: as-user-extra is not a mapping`);
    for (const [k, v] of Object.entries(extra)) {
      const values = Array.isArray(v) ? v : [v];
      if (!values.every((x) => typeof x === "string")) throw new KubeconfigError(`${where}: as-user-extra ${k} is not a list of strings`);
      access.impersonate[`Impersonate-Extra-${encodeURIComponent(k)}`] = values as string[];
    }
  }
  if ((asUid || groups || extra) && !as) throw new KubeconfigError(`${where}: as-uid, as-groups and as-user-extra need "as" (the user to impersonate)`);
}

function unknownFields(e: Entry, known: Set<string>, where: string, notes: string[]): void {
  for (const k of Object.keys(e.value)) if (!known.has(k)) notes.push(`${where}: ${JSON.stringify(k)} is not a kubeconfig field kubectl knows; not used`);
}

function str(o: Doc, k: string, where: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new KubeconfigError(`${where}: ${k} is not a string`);
  return v;
}

function bool(o: Doc, k: string, where: string): boolean {
  const v = o[k];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new KubeconfigError(`${where}: ${k} is not true or false`);
  return v;
}

/** `<k>-data` (base64) wins over `<k>` (a file, relative to the kubeconfig naming it), as in client-go. */
function material(e: Entry, k: string, where: string): Material | undefined {
  const data = str(e.value, `${k}-data`, where);
  if (data) return { data: Buffer.from(data, "base64") };
  const file = str(e.value, k, where);
  return file ? { file: path.resolve(path.dirname(e.file), file) } : undefined;
}
