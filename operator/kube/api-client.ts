// The few Kubernetes API calls the operator makes (get, list, create, replace, merge patch,
// delete, watch), as plain JSON over one keep-alive connection pool. Objects come back as the API
// server sent them: timestamps are RFC 3339 strings, never Date objects.

import http from "node:http";
import https from "node:https";
import { LineSplitter } from "../api/lines.ts";
import type { Connection } from "./kubeconfig.ts";
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
}

const REQUEST_TIMEOUT_MS = 30_000;
/**
 * Connections for requests (not watches). Enough for the reconcile workers and event writes in
 * flight together; beyond it requests queue, which bounds the sockets and TLS state a burst of
 * reconciles (a thousand Repositories becoming Ready) can pile up.
 */
const MAX_REQUEST_CONNECTIONS = 16;
const MERGE_PATCH = "application/merge-patch+json";
/** etcd stores objects of at most 1.5 MiB by default; a watch event is one object and its envelope. */
const MAX_WATCH_EVENT_LENGTH = 16 << 20;

export class KubeClient {
  /** Requests share at most MAX_REQUEST_CONNECTIONS connections; a burst queues instead of opening hundreds of TLS sessions. */
  private readonly agent: http.Agent;
  /** Watches hold their connection for minutes, so they have a pool of their own that never makes requests wait. */
  private readonly watchAgent: http.Agent;
  private readonly base: URL;
  private readonly conn: Connection;

  constructor(conn: Connection) {
    this.conn = conn;
    this.base = new URL(conn.server);
    const tls: https.AgentOptions = {
      keepAlive: true,
      ...(conn.ca ? { ca: conn.ca } : {}),
      ...(conn.cert ? { cert: conn.cert } : {}),
      ...(conn.key ? { key: conn.key } : {}),
      ...(conn.tlsServerName ? { servername: conn.tlsServerName } : {}),
      rejectUnauthorized: !conn.insecureSkipTlsVerify,
    };
    const agent = (o: http.AgentOptions) => (this.base.protocol === "http:" ? new http.Agent({ keepAlive: true, ...o }) : new https.Agent({ ...tls, ...o }));
    this.agent = agent({ maxSockets: MAX_REQUEST_CONNECTIONS, maxFreeSockets: MAX_REQUEST_CONNECTIONS });
    this.watchAgent = agent({ maxFreeSockets: 0 });
  }

  get source(): string {
    return this.conn.source;
  }

  get<T>(type: ResourceType, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>("GET", resourcePath(type, namespace, name));
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

  list<T>(type: ResourceType, o: { namespace?: string; labelSelector?: string } = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>("GET", resourcePath(type, o.namespace), { query: { labelSelector: o.labelSelector } });
  }

  create<T>(type: ResourceType, namespace: string | undefined, body: unknown): Promise<T> {
    return this.request<T>("POST", resourcePath(type, namespace), { body });
  }

  replace<T>(type: ResourceType, namespace: string | undefined, name: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", resourcePath(type, namespace, name), { body });
  }

  /** A JSON merge patch (RFC 7386): null removes a field; `subresource` e.g. "status". */
  mergePatch<T>(type: ResourceType, namespace: string | undefined, name: string, body: unknown, subresource?: string): Promise<T> {
    return this.request<T>("PATCH", resourcePath(type, namespace, name, subresource), { body, contentType: MERGE_PATCH });
  }

  async delete(type: ResourceType, namespace: string | undefined, name: string, o: { propagationPolicy?: "Background" | "Foreground" | "Orphan" } = {}): Promise<void> {
    await this.request("DELETE", resourcePath(type, namespace, name), o.propagationPolicy ? { body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: o.propagationPolicy } } : {});
  }

  request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    return new Promise<T>((resolve, reject) => {
      const req = this.send(method, path, o.query, payload, o.contentType, this.agent, o.accept);
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path}: no answer from the Kubernetes API within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on("error", (err) => reject(withContext(err, method, path)));
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => reject(withContext(err, method, path)));
        res.on("end", () => {
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
  watch<T>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal, idleTimeoutMs: number, accept?: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      const req = this.send("GET", path, { ...query, watch: true }, undefined, undefined, this.watchAgent, accept);
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

  /** Closes idle connections (open watches are ended by their signals). */
  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  private send(method: string, path: string, query?: Query, payload?: Buffer, contentType?: string, agent = this.agent, accept = "application/json"): http.ClientRequest {
    const url = new URL(path, this.base);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    const headers: http.OutgoingHttpHeaders = { accept };
    const token = this.conn.token?.();
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload) {
      headers["content-type"] = contentType ?? "application/json";
      headers["content-length"] = payload.length;
    }
    const mod = url.protocol === "http:" ? http : https;
    return mod.request(url, { method, headers, agent });
  }
}

function withContext(err: Error, method: string, path: string): Error {
  if (err instanceof KubeApiError || err.message.includes(path)) return err;
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
