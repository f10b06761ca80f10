import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type ListPromise } from "@kubernetes/client-node";
import type { Logger } from "../observability/logger.ts";

type Handler<T> = (obj: T) => void;

export interface ResilientInformerOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** Watch path, e.g. /api/v1/secrets or /apis/stash.appscode.com/v1alpha1/repositories */
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  log: Logger;
  /** A full relist this often guards against watches that stall without an error. */
  relistPeriodMs?: number;
  maxBackoffMs?: number;
}

/**
 * client-node's informer stops for good on any error but 410 and can stall silently. This one
 * restarts it with backoff after errors and replaces it with a fresh list+watch periodically; a
 * relist re-delivers every object as an add, which handlers must treat idempotently (ours enqueue).
 */
export class ResilientInformer<T extends KubernetesObject> {
  private current: ListWatch<T> | undefined;
  private readonly handlers: { add: Handler<T>[]; update: Handler<T>[]; delete: Handler<T>[] } = { add: [], update: [], delete: [] };
  private failures = 0;
  private stopped = true;
  private relistTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readyResolve: (() => void) | undefined;
  readonly synced: Promise<void>;

  private readonly opts: ResilientInformerOptions<T>;

  constructor(opts: ResilientInformerOptions<T>) {
    this.opts = opts;
    this.synced = new Promise((resolve) => (this.readyResolve = resolve));
  }

  on(event: "add" | "update" | "delete", handler: Handler<T>): void {
    this.handlers[event].push(handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.current?.get(name, namespace);
  }

  list(namespace?: string): T[] {
    return [...(this.current?.list(namespace) ?? [])];
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.replace();
    const period = this.opts.relistPeriodMs ?? 5 * 60_000;
    this.relistTimer = setInterval(() => void this.replace(), period);
    this.relistTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.relistTimer);
    clearTimeout(this.retryTimer);
    await this.current?.stop();
  }

  private async replace(): Promise<void> {
    if (this.stopped) return;
    const { kc, path, list, labelSelector, log } = this.opts;
    const next = new ListWatch<T>(path, new Watch(kc), list, false, labelSelector);
    for (const ev of ["add", "update", "delete"] as const) {
      next.on(ev, (obj) => {
        for (const h of this.handlers[ev]) h(obj);
      });
    }
    next.on("error", (err) => {
      if (this.current !== next || this.stopped) return;
      this.failures++;
      const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, 500 * 2 ** Math.min(this.failures, 10));
      log.warn("watch failed; restarting", { path, delayMs: delay, error: String(err) });
      this.retryTimer = setTimeout(() => void this.replace(), delay);
      this.retryTimer.unref();
    });
    const previous = this.current;
    try {
      await next.start();
    } catch (err) {
      log.warn("list failed; will retry", { path, error: String(err) });
    }
    // The listing succeeded once the informer holds a resource version.
    if (next.latestResourceVersion()) {
      this.failures = 0;
      this.current = next;
      this.readyResolve?.();
      await previous?.stop();
    } else {
      await next.stop();
      const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, 500 * 2 ** Math.min(++this.failures, 10));
      if (!this.stopped) {
        this.retryTimer = setTimeout(() => void this.replace(), delay);
        this.retryTimer.unref();
      }
    }
  }
}

/**
 * One informer per watched namespace, or a single cluster-wide one, behind one interface: the
 * operator can run with a ClusterRole or with Roles in listed namespaces only.
 */
export class InformerSet<T extends KubernetesObject> {
  private readonly members: ResilientInformer<T>[];

  constructor(
    base: Omit<ResilientInformerOptions<T>, "path" | "list">,
    namespaces: string[],
    pathFor: (namespace?: string) => string,
    listFor: (namespace?: string) => ListPromise<T>,
  ) {
    const scopes = namespaces.length ? namespaces : [undefined];
    this.members = scopes.map((ns) => new ResilientInformer<T>({ ...base, path: pathFor(ns), list: listFor(ns) }));
  }

  on(event: "add" | "update" | "delete", handler: (obj: T) => void): void {
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
