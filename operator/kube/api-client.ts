// The few Kubernetes API calls the operator makes (get, list, create, replace, merge patch,
// delete, watch), as plain JSON over one keep-alive connection pool. Objects come back as the API
// server sent them: timestamps are RFC 3339 strings, never Date objects.

import http from "node:http";
import https from "node:https";
import { LineSplitter } from "../api/lines.ts";
import type { Authorization, Connection, TlsMaterial } from "./connection.ts";
import { resourcePath, type ResourceType } from "./resources.ts";

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    managedFields?: unknown;
  };
}

export interface KubeList<T> {
  items: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** An answer other than 2xx, with the API server's Status reason and message when it sent one. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly reason: string | undefined;

  constructor(code: number, reason: string | undefined, message: string) {
    super(message);
    this.name = "KubeApiError";
    this.code = code;
    this.reason = reason;
  }
}

type Query = Record<string, string | number | boolean | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  /** Accept header, e.g. to ask for PartialObjectMetadata (metadata only). */
  accept?: string;
  /** Ends the request early (leader election bounds its renewals with it). */
  signal?: AbortSignal;
  /** Passes the write fence: the Lease calls of leader election, which decide who may write. */
  unfenced?: boolean;
}

/** What a single call may take besides its object. */
export interface CallOptions {
  signal?: AbortSignal;
  unfenced?: boolean;
}

const REQUEST_TIMEOUT_MS = 30_000;
/**
 * Connections for requests (not watches). Enough for the reconcile workers and event writes in
 * flight together; beyond it requests queue, which bounds the sockets and TLS state a burst of
 * reconciles (a thousand Repositories becoming Ready) can pile up.
 */
const MAX_REQUEST_CONNECTIONS = 16;
const MERGE_PATCH = "application/merge-patch+json";
/** As client-go names its programs: audit logs and API priority rules can tell the operator's requests apart. */
export const USER_AGENT = `blobstash-operator (${process.platform}/${process.arch})`;
/** etcd stores objects of at most 1.5 MiB by default; a watch event is one object and its envelope. */
const MAX_WATCH_EVENT_LENGTH = 16 << 20;
/** Agents replaced by rotated credentials are closed this long after, once what used them has ended. */
const RETIRE_AFTER_MS = 2 * REQUEST_TIMEOUT_MS;

/** A write the fence stopped: this process may not act (it is not, or no longer, the leader). */
export class FencedError extends Error {
  override name = "FencedError";
}

interface Transport {
  /** The TLS material and client certificate these agents were made for. */
  tls: TlsMaterial;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  /** Requests share at most MAX_REQUEST_CONNECTIONS connections; a burst queues instead of opening hundreds of TLS sessions. */
  agent: http.Agent;
  /** Watches hold their connection for minutes, so they have a pool of their own that never makes requests wait. */
  watchAgent: http.Agent;
}

export class KubeClient {
  private readonly base: URL;
  private readonly conn: Connection;
  private transport: Promise<Transport> | undefined;
  private readonly retired = new Set<http.Agent>();
  private writesAllowed: () => boolean = () => true;
  /** Fenced writes on the wire, each with a promise that settles when its request does. */
  private readonly inFlightWrites = new Map<http.ClientRequest, Promise<void>>();

  constructor(conn: Connection) {
    this.conn = conn;
    this.base = new URL(`${conn.server}/`);
  }

  get source(): string {
    return this.conn.source;
  }

  /** What the kubeconfig holds that is not used, for the start-up log. */
  get notes(): readonly string[] {
    return this.conn.notes;
  }

  /**
   * Writes (anything but GET) go out only while `allowed()` says so; others fail with FencedError
   * before a byte leaves. `revoke` ends the writes in flight at once: a leader that lost its lease
   * must not have a write land after a standby took over. `drain` waits for them instead, for a
   * leader that gives its Lease up: once `allowed()` is false and drain resolved, nothing it decided
   * can still land, however long its reconciles take to notice.
   */
  fenceWrites(allowed: () => boolean): { revoke(): void; drain(): Promise<void> } {
    this.writesAllowed = allowed;
    return {
      revoke: () => {
        for (const req of this.inFlightWrites.keys()) req.destroy(new FencedError("this operator stopped acting (it lost its lease); the write was abandoned"));
      },
      drain: async () => {
        await Promise.all(this.inFlightWrites.values());
      },
    };
  }

  get<T>(type: ResourceType, namespace: string | undefined, name: string, o: CallOptions = {}): Promise<T> {
    return this.request<T>("GET", resourcePath(type, namespace, name), o);
  }

  /** Like get, but undefined when the object does not exist. */
  async find<T>(type: ResourceType, namespace: string | undefined, name: string): Promise<T | undefined> {
    try {
      return await this.get<T>(type, namespace, name);
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  /** One page of at most `limit` objects; `continue` (from the previous page's metadata) for the next. */
  list<T>(type: ResourceType, o: { namespace?: string; labelSelector?: string; fieldSelector?: string; limit?: number; continue?: string } = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>("GET", resourcePath(type, o.namespace), { query: { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector, limit: o.limit, continue: o.continue } });
  }

  create<T>(type: ResourceType, namespace: string | undefined, body: unknown, o: CallOptions = {}): Promise<T> {
    return this.request<T>("POST", resourcePath(type, namespace), { ...o, body });
  }

  replace<T>(type: ResourceType, namespace: string | undefined, name: string, body: unknown, o: CallOptions = {}): Promise<T> {
    return this.request<T>("PUT", resourcePath(type, namespace, name), { ...o, body });
  }

  /** A JSON merge patch (RFC 7386): null removes a field; `subresource` e.g. "status". */
  mergePatch<T>(type: ResourceType, namespace: string | undefined, name: string, body: unknown, subresource?: string): Promise<T> {
    return this.request<T>("PATCH", resourcePath(type, namespace, name, subresource), { body, contentType: MERGE_PATCH });
  }

  async delete(type: ResourceType, namespace: string | undefined, name: string, o: { propagationPolicy?: "Background" | "Foreground" | "Orphan" } = {}): Promise<void> {
    await this.request("DELETE", resourcePath(type, namespace, name), o.propagationPolicy ? { body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: o.propagationPolicy } } : {});
  }

  /**
   * One API call. A 401 makes credentials that can be refreshed (exec plugins, auth providers)
   * refresh, and the call is tried once more: the server refused it before doing anything.
   */
  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    try {
      return await this.exchange<T>(method, path, o);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.code === 401) || o.signal?.aborted) throw err;
      this.conn.refused();
      return this.exchange<T>(method, path, o);
    }
  }

  private async exchange<T>(method: string, path: string, o: RequestOptions): Promise<T> {
    const write = method !== "GET";
    if (write && !o.unfenced && !this.writesAllowed()) throw new FencedError(`${method} ${path}: this operator may not write now (it does not hold the lease)`);
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const req = await this.send(method, path, { query: o.query, payload, contentType: o.contentType, accept: o.accept, watch: false });
    const tracked = write && !o.unfenced;
    let settled = (): void => undefined;
    if (tracked) this.inFlightWrites.set(req, new Promise<void>((resolve) => (settled = resolve)));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => req.destroy(new Error(`${method} ${path}: abandoned (${o.signal?.reason instanceof Error ? o.signal.reason.message : "aborted"})`));
      if (o.signal?.aborted) onAbort();
      o.signal?.addEventListener("abort", onAbort, { once: true });
      const settle = () => {
        o.signal?.removeEventListener("abort", onAbort);
        if (tracked) this.inFlightWrites.delete(req);
        settled();
      };
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path}: no answer from the Kubernetes API within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on("error", (err) => {
        settle();
        reject(withContext(err, method, path));
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => {
          settle();
          reject(withContext(err, method, path));
        });
        res.on("end", () => {
          settle();
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) return reject(apiError(status, text, method, path));
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch (err) {
            reject(new Error(`${method} ${path}: the Kubernetes API answered ${status} with a body that is not JSON (${(err as Error).message})`));
          }
        });
      });
      req.end(payload);
    });
  }

  /**
   * Streams a watch until the server ends it (resolves), the signal aborts it (resolves), or it
   * fails (rejects; an ERROR event becomes a KubeApiError, 410 meaning "relist"). A connection
   * that carries nothing, not even a bookmark, for `idleTimeoutMs` is treated as failed: a watch
   * can stall silently behind a broken load balancer.
   */
  async watch<T>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal, idleTimeoutMs: number, accept?: string): Promise<void> {
    if (signal.aborted) return;
    let req: http.ClientRequest;
    try {
      req = await this.send("GET", path, { query: { ...query, watch: true }, accept, watch: true });
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 401) this.conn.refused();
      throw err;
    }
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        req.on("error", () => undefined).destroy();
        return resolve();
      }
      const onAbort = () => {
        req.destroy();
        resolve();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const fail = (err: Error) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) resolve();
        else reject(err);
      };
      req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`watch ${path}: nothing received for ${idleTimeoutMs / 1000} s`)));
      req.on("error", (err) => fail(withContext(err, "GET", path)));
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          if (status === 401) this.conn.refused();
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => fail(apiError(status, Buffer.concat(chunks).toString("utf8"), "GET", path)));
          return;
        }
        const lines = new LineSplitter(MAX_WATCH_EVENT_LENGTH);
        res.on("data", (chunk: Buffer) => {
          try {
            const complete = lines.push(chunk);
            if (lines.cutLines > 0) throw new Error(`watch ${path}: an event longer than ${MAX_WATCH_EVENT_LENGTH} characters`);
            for (const line of complete) {
              if (line.trim() === "") continue;
              const event = JSON.parse(line) as WatchEvent<T>;
              if (event.type === "ERROR") throw statusError(event.object, "GET", path);
              onEvent(event);
            }
          } catch (err) {
            req.destroy(err instanceof Error ? err : new Error(String(err)));
          }
        });
        res.on("error", (err) => fail(withContext(err, "GET", path)));
        res.on("end", () => {
          signal.removeEventListener("abort", onAbort);
          if (!res.complete) fail(new Error(`watch ${path}: the connection closed mid-stream`));
          else resolve();
        });
      });
      req.end();
    });
  }

  /** Closes every connection (open watches are ended by their signals). */
  close(): void {
    void this.transport?.then((t) => {
      t.agent.destroy();
      t.watchAgent.destroy();
    });
    for (const a of this.retired) a.destroy();
    this.retired.clear();
  }

  private async send(
    method: string,
    path: string,
    o: { query?: Query | undefined; payload?: Buffer | undefined; contentType?: string | undefined; accept?: string | undefined; watch: boolean },
  ): Promise<http.ClientRequest> {
    const auth = await this.conn.authorize();
    const t = await this.agentsFor(auth);
    const url = new URL(path.replace(/^\//, ""), this.base);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    const headers: http.OutgoingHttpHeaders = { ...auth.headers, accept: o.accept ?? "application/json", "user-agent": USER_AGENT };
    if (o.payload) {
      headers["content-type"] = o.contentType ?? "application/json";
      headers["content-length"] = o.payload.length;
    }
    const agent = o.watch ? t.watchAgent : t.agent;
    if (url.protocol === "http:") return http.request(url, { method, headers, agent });
    // TLS settings travel with each request (they are part of Node's pool key), so a proxy agent
    // applies them to the session it tunnels, and rotated material opens new connections.
    return https.request(url, { method, headers, agent, ...tlsOptions(t) });
  }

  /** The agents for the current TLS material; new ones (the old retired) when a file or the plugin's certificate changed. */
  private async agentsFor(auth: Authorization): Promise<Transport> {
    const tls = this.conn.tls();
    const cert = auth.cert ?? tls.cert;
    const key = auth.key ?? tls.key;
    const current = await this.transport;
    if (current && current.tls === tls && sameBytes(current.cert, cert) && sameBytes(current.key, key)) return current;
    const next = (async (): Promise<Transport> => {
      const made = await makeAgents(this.base, this.conn.proxyUrl);
      return { tls, cert, key, ...made };
    })();
    this.transport = next;
    // A proxy agent that failed to load is tried again by the next request.
    next.catch(() => {
      if (this.transport === next) this.transport = undefined;
    });
    if (current) {
      // What uses the old agents finishes on them; their idle connections (the old certificate) go now.
      for (const a of [current.agent, current.watchAgent]) {
        this.retired.add(a);
        for (const sockets of Object.values(a.freeSockets)) for (const s of sockets ?? []) s.destroy();
      }
      setTimeout(() => {
        for (const a of [current.agent, current.watchAgent]) {
          a.destroy();
          this.retired.delete(a);
        }
      }, RETIRE_AFTER_MS).unref();
    }
    return next;
  }
}

function tlsOptions(t: Transport): https.RequestOptions {
  return {
    rejectUnauthorized: t.tls.rejectUnauthorized,
    ...(t.tls.ca ? { ca: t.tls.ca } : {}),
    ...(t.cert ? { cert: t.cert } : {}),
    ...(t.key ? { key: t.key } : {}),
    ...(t.tls.servername ? { servername: t.tls.servername } : {}),
  };
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.equals(b));
}

/** Kept-alive agents straight to the server, or through the kubeconfig's proxy-url (HTTP CONNECT or SOCKS5). */
async function makeAgents(server: URL, proxyUrl: string | undefined): Promise<{ agent: http.Agent; watchAgent: http.Agent }> {
  let make: (o: http.AgentOptions) => http.Agent;
  if (!proxyUrl) make = (o) => (server.protocol === "http:" ? new http.Agent(o) : new https.Agent(o));
  // Only a kubeconfig with proxy-url needs these.
  else if (/^socks/.test(proxyUrl)) {
    const { SocksProxyAgent } = await import("socks-proxy-agent");
    make = (o) => new SocksProxyAgent(proxyUrl, o);
  } else if (server.protocol === "http:") {
    const { HttpProxyAgent } = await import("http-proxy-agent");
    make = (o) => new HttpProxyAgent(proxyUrl, o);
  } else {
    const { HttpsProxyAgent } = await import("https-proxy-agent");
    make = (o) => new HttpsProxyAgent(proxyUrl, o);
  }
  return {
    agent: make({ keepAlive: true, maxSockets: MAX_REQUEST_CONNECTIONS, maxFreeSockets: MAX_REQUEST_CONNECTIONS }),
    watchAgent: make({ keepAlive: true, maxFreeSockets: 0 }),
  };
}

function withContext(err: Error, method: string, path: string): Error {
  if (err instanceof KubeApiError || err.message.includes(path)) return err;
  if (err instanceof FencedError) return new FencedError(`${method} ${path}: ${err.message}`);
  return new Error(`${method} ${path}: ${err.message}`, { cause: err });
}

function apiError(status: number, body: string, method: string, path: string): KubeApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed === "object" && (parsed as { kind?: unknown }).kind === "Status") return statusError(parsed, method, path, status);
  return new KubeApiError(status, undefined, `${method} ${path}: HTTP ${status}${body ? ` ${body.slice(0, 200)}` : ""}`);
}

/** A metav1.Status (an error answer, or a watch's ERROR event) as a KubeApiError. */
export function statusError(status: unknown, method: string, path: string, httpStatus?: number): KubeApiError {
  const s = (status ?? {}) as { code?: unknown; reason?: unknown; message?: unknown };
  const code = typeof s.code === "number" ? s.code : (httpStatus ?? 500);
  const reason = typeof s.reason === "string" ? s.reason : undefined;
  const message = typeof s.message === "string" ? s.message : "no message";
  return new KubeApiError(code, reason, `${method} ${path}: ${code}${reason ? ` ${reason}` : ""}: ${message}`);
}
