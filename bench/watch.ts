// Timestamps of what the API server tells a watcher, taken the moment each event arrives: the
// benchmarks measure apply→Ready as a user's `kubectl get -w` would see it, and count the writes a
// settled operator makes by the MODIFIED events they cause.

import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from "@kubernetes/client-node";

type Test<T> = (obj: T) => boolean;

/** An object as a watch event delivered it, and when (performance.now()). */
export interface Seen<T> {
  at: number;
  obj: T;
}

export class EventClock<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private readonly waiters = new Set<{ test: Test<T>; resolve: (seen: Seen<T>) => void }>();
  private readonly listeners: Array<(obj: T, at: number, kind: "add" | "update") => void> = [];
  /** Objects added and modified since start (a relist after a broken watch re-adds nothing it already had). */
  added = 0;
  modified = 0;
  errors = 0;
  private stopped = false;

  constructor(kc: KubeConfig, path: string, list: () => Promise<KubernetesListObject<T>>) {
    this.lw = new ListWatch<T>(path, new Watch(kc), list, false);
    this.lw.on("add", (obj) => this.arrived(obj, "add"));
    this.lw.on("update", (obj) => this.arrived(obj, "update"));
    // ListWatch stops for good on errors other than 410 and timeouts: start over from a fresh list.
    this.lw.on("error", (err: unknown) => {
      if (this.stopped) return;
      this.errors++;
      console.error(`watch ${path} failed (${err instanceof Error ? err.message : String(err)}); restarting`);
      setTimeout(() => void (this.stopped || this.lw.start()), 1000).unref();
    });
  }

  async start(): Promise<void> {
    await this.lw.start();
  }

  /** The cached objects (optionally of one namespace). */
  list(namespace?: string): T[] {
    return [...this.lw.list(namespace)];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.lw.stop();
  }

  /** Calls back on every add and update with the arrival time (performance.now()); returns an unsubscribe. */
  onEvent(listener: (obj: T, at: number, kind: "add" | "update") => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Resolves with the first event from now on whose object passes `test`. Register before the
   * action that causes it.
   */
  next(test: Test<T>, timeoutMs: number, what: string): Promise<Seen<T>> {
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: (seen: Seen<T>) => {
          clearTimeout(timer);
          resolve(seen);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no watch event within ${timeoutMs} ms: ${what}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private arrived(obj: T, kind: "add" | "update"): void {
    const at = performance.now();
    if (kind === "add") this.added++;
    else this.modified++;
    for (const l of [...this.listeners]) l(obj, at, kind);
    for (const w of this.waiters) {
      if (w.test(obj)) {
        this.waiters.delete(w);
        w.resolve({ at, obj });
      }
    }
  }
}

export interface ConditionLike {
  type?: string;
  status?: string;
  reason?: string;
}

/** The Ready condition of a Repository-shaped object. */
export function readyOf(obj: { status?: { conditions?: ConditionLike[] } }): ConditionLike | undefined {
  return obj.status?.conditions?.find((c) => c.type === "Ready");
}
