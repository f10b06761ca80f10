import type { Logger } from "../observability/logger.ts";
import { KubeApiError, type KubeClient, type KubeList, type KubeObject, type WatchEvent } from "./api-client.ts";
import { keyOf } from "./client.ts";

type Handler<T> = (obj: T) => void;
type EventName = "add" | "update" | "delete";

export interface ResilientInformerOptions<T extends KubeObject = KubeObject> {
  client: KubeClient;
  /** Collection path, e.g. /api/v1/secrets or /apis/stash.appscode.com/v1alpha1/namespaces/demo/repositories */
  path: string;
  labelSelector?: string;
  log: Logger;
  maxBackoffMs?: number;
  /** How long a watch may carry nothing (bookmarks included) before it counts as stalled. */
  idleTimeoutMs?: number;
  /**
   * Cache metadata only (PartialObjectMetadata): for Secrets, whose data the operator needs for a
   * few and the cluster may hold hundreds of megabytes of (Helm releases, certificates).
   */
  metadataOnly?: boolean;
  /** Objects per list page (default 500). */
  pageSize?: number;
  /**
   * What is kept of each object (client-go's SetTransform), after managedFields are dropped: a
   * cache of 100,000 objects pays for every field it keeps. Handlers get either form (a relist tells
   * them what it kept), so it must keep what they read.
   */
  transform?: (obj: T) => T;
}

/** client-go's reflector pages its lists by 500. */
const LIST_PAGE_SIZE = 500;
const METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
const METADATA_ITEM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

/**
 * A cache of one collection kept current by list + watch, the way client-go's reflector does it:
 * watch from the list's resourceVersion with bookmarks, resume from the last version seen when
 * the server ends a watch, relist on 410 Gone, retry failed lists and watches with exponential
 * backoff, and relist periodically. A relist tells handlers only what differs from the cache
 * (add / update on a new resourceVersion / delete), so it costs no reconciles when nothing changed.
 * managedFields are dropped from cached objects: the operator never reads them, and at a thousand
 * objects they are a large share of the cache.
 */
export class ResilientInformer<T extends KubeObject> {
  private store = new NamespacedStore<T>();
  private readonly handlers: Record<EventName, Handler<T>[]> = { add: [], update: [], delete: [] };
  private failures = 0;
  private stopped = true;
  /** Bumped by every relist; a watch loop from an older one stops. */
  private generation = 0;
  private watchAbort: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readyResolve: (() => void) | undefined;
  readonly synced: Promise<void>;

  private readonly opts: ResilientInformerOptions<T>;

  constructor(opts: ResilientInformerOptions<T>) {
    this.opts = opts;
    this.synced = new Promise((resolve) => (this.readyResolve = resolve));
  }

  on(event: EventName, handler: Handler<T>): void {
    this.handlers[event].push(handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.store.get(`${namespace ?? ""}/${name}`);
  }

  /** One namespace's objects cost what that namespace holds, not what the cluster holds (100,000 Snapshots). */
  list(namespace?: string): T[] {
    return namespace === undefined ? [...this.store.values()] : this.store.inNamespace(namespace);
  }

  async start(): Promise<void> {
    this.stopped = false;
    // No periodic relist (client-go has none either): at 100,000 Snapshots every relist is 200
    // pages for the API server and, while the new list arrives, a second cache in this process;
    // and informers started together relisted together, cutting every watch at once.
    await this.relist();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.retryTimer);
    this.watchAbort?.abort();
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    const generation = ++this.generation;
    this.watchAbort?.abort();
    clearTimeout(this.retryTimer);
    const { path, log } = this.opts;
    const fresh = new NamespacedStore<T>();
    let resourceVersion: string;
    try {
      resourceVersion = await this.listPages(generation, (obj) => fresh.set(keyOf(obj), this.keep(obj)));
    } catch (err) {
      if (generation === this.generation) this.retryLater(`list ${path} failed`, err);
      return;
    }
    if (generation !== this.generation || this.stopped) return;
    const previous = this.store;
    this.store = fresh;
    for (const [key, obj] of fresh.entries()) {
      const old = previous.get(key);
      previous.delete(key);
      if (!old) this.emit("add", obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit("update", obj);
    }
    for (const gone of previous.values()) this.emit("delete", gone);
    this.failures = 0;
    this.readyResolve?.();
    log.debug("listed", { path, objects: this.store.size });
    void this.watchFrom(generation, resourceVersion);
  }

  /**
   * Lists the collection in pages of LIST_PAGE_SIZE (limit/continue), as client-go's reflector
   * does: a relist of tens of thousands of objects is many small answers from one consistent
   * snapshot, not one answer the API server must build and this process parse at once. Returns the
   * snapshot's resourceVersion. An expired continue token (410) fails the list, which is retried.
   */
  private async listPages(generation: number, each: (obj: T) => void): Promise<string> {
    const { client, path, labelSelector } = this.opts;
    let token: string | undefined;
    let resourceVersion = "";
    do {
      const page: KubeList<T> = await client.request<KubeList<T>>("GET", path, {
        query: { labelSelector, limit: this.opts.pageSize ?? LIST_PAGE_SIZE, continue: token },
        ...(this.opts.metadataOnly ? { accept: METADATA_LIST } : {}),
      });
      if (generation !== this.generation) return resourceVersion;
      for (const obj of page.items ?? []) each(obj);
      resourceVersion ||= page.metadata?.resourceVersion ?? "";
      token = page.metadata?.continue || undefined;
    } while (token);
    return resourceVersion;
  }

  private async watchFrom(generation: number, startVersion: string): Promise<void> {
    const { client, path, labelSelector } = this.opts;
    let resourceVersion = startVersion;
    const idleTimeoutMs = this.opts.idleTimeoutMs ?? 10 * 60_000;
    while (generation === this.generation && !this.stopped) {
      const abort = new AbortController();
      this.watchAbort = abort;
      // Spread the servers' watch ends over time, as client-go does (5-10 minutes).
      const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
      try {
        await client.watch<T>(
          path,
          { resourceVersion, allowWatchBookmarks: true, timeoutSeconds, labelSelector },
          (event) => {
            if (generation !== this.generation) return;
            resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
            this.apply(event);
          },
          abort.signal,
          Math.max(idleTimeoutMs, (timeoutSeconds + 30) * 1000),
          this.opts.metadataOnly ? METADATA_ITEM : undefined,
        );
      } catch (err) {
        if (generation !== this.generation || this.stopped) return;
        if (err instanceof KubeApiError && err.code === 410) {
          this.opts.log.info("watch expired (410 Gone); relisting", { path });
          void this.relist();
        } else {
          this.retryLater(`watch ${path} failed`, err);
        }
        return;
      }
    }
  }

  private apply(event: WatchEvent<T>): void {
    const obj = event.object;
    const key = keyOf(obj);
    switch (event.type) {
      case "ADDED":
      case "MODIFIED": {
        const known = this.store.has(key);
        this.store.set(key, this.keep(obj));
        this.emit(known ? "update" : "add", obj);
        break;
      }
      case "DELETED":
        this.store.delete(key);
        this.emit("delete", obj);
        break;
      default:
        break; // BOOKMARK: only its resourceVersion matters
    }
  }

  private keep(obj: T): T {
    const trimmed = trim(obj);
    return this.opts.transform ? this.opts.transform(trimmed) : trimmed;
  }

  private emit(event: EventName, obj: T): void {
    for (const h of this.handlers[event]) {
      try {
        h(obj);
      } catch (err) {
        this.opts.log.error("informer handler failed", { path: this.opts.path, event, error: String(err) });
      }
    }
  }

  private retryLater(what: string, err: unknown): void {
    if (this.stopped) return;
    this.failures++;
    const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, 500 * 2 ** Math.min(this.failures, 10));
    this.opts.log.warn(`${what}; relisting`, { delayMs: delay, error: err instanceof Error ? err.message : String(err) });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.relist(), delay);
    this.retryTimer.unref();
  }
}

/** The informer's cache: by `namespace/name`, and by namespace for `list(namespace)`. */
export class NamespacedStore<T extends KubeObject> {
  private readonly all = new Map<string, T>();
  private readonly byNamespace = new Map<string, Map<string, T>>();

  get size(): number {
    return this.all.size;
  }

  get(key: string): T | undefined {
    return this.all.get(key);
  }

  has(key: string): boolean {
    return this.all.has(key);
  }

  set(key: string, obj: T): void {
    this.delete(key);
    this.all.set(key, obj);
    const ns = obj.metadata?.namespace ?? "";
    let m = this.byNamespace.get(ns);
    if (!m) this.byNamespace.set(ns, (m = new Map()));
    m.set(key, obj);
  }

  delete(key: string): void {
    const old = this.all.get(key);
    if (!old) return;
    this.all.delete(key);
    const ns = old.metadata?.namespace ?? "";
    const m = this.byNamespace.get(ns);
    m?.delete(key);
    if (m?.size === 0) this.byNamespace.delete(ns);
  }

  values(): IterableIterator<T> {
    return this.all.values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.all.entries();
  }

  inNamespace(namespace: string): T[] {
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }
}

function trim<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

/**
 * One informer per watched namespace, or a single cluster-wide one, behind one interface: the
 * operator can run with a ClusterRole or with Roles in listed namespaces only.
 */
export class InformerSet<T extends KubeObject> {
  private readonly members: ResilientInformer<T>[];

  constructor(base: Omit<ResilientInformerOptions<T>, "path">, namespaces: string[], pathFor: (namespace?: string) => string) {
    const scopes = namespaces.length ? namespaces : [undefined];
    this.members = scopes.map((ns) => new ResilientInformer<T>({ ...base, path: pathFor(ns) }));
  }

  on(event: EventName, handler: (obj: T) => void): void {
    for (const m of this.members) m.on(event, handler);
  }

  get(name: string, namespace: string): T | undefined {
    for (const m of this.members) {
      const hit = m.get(name, namespace);
      if (hit) return hit;
    }
    return undefined;
  }

  list(namespace?: string): T[] {
    return this.members.flatMap((m) => m.list(namespace));
  }

  get synced(): Promise<void> {
    return Promise.all(this.members.map((m) => m.synced)).then(() => undefined);
  }

  async start(): Promise<void> {
    await Promise.all(this.members.map((m) => m.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
  }
}
